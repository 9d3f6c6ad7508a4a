//! The `medblock` binary under test.

#![allow(dead_code)]

use std::path::PathBuf;

/// The `medblock` binary cargo built beside this test (`<target>/debug/medblock`). Cargo hands
/// `CARGO_BIN_EXE_medblock` only to the node package's own tests; `cargo test --workspace`
/// builds the binary because that package has integration tests. `MEDBLOCK_TEST_BIN` points
/// at another build (a private copy, say) instead.
pub fn medblock() -> PathBuf {
    if let Some(p) = std::env::var_os("MEDBLOCK_TEST_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("medblock"))
        .expect("the target directory");
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace`, which builds it",
        bin.display()
    );
    bin
}
