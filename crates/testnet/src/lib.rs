//! Starts and manages many MedBlock node processes on one machine.
