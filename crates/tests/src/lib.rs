//! Cross-crate integration tests and the simulator's scenarios live in `tests/`.
