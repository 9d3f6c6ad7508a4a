//! Deterministic, seeded simulator of MedBlock's consensus in virtual time.
