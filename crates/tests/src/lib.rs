//! Cross-crate integration tests and the simulator's scenarios.
