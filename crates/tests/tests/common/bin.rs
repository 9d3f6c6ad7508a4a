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

/// Runs `medblock args` with extra environment; its stdout, or a failure with its stderr.
pub fn run_env(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = std::process::Command::new(medblock())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("medblock runs");
    assert!(
        out.status.success(),
        "medblock {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `medblock args`; its stdout, or a failure with its stderr.
pub fn run(args: &[&str]) -> String {
    run_env(args, &[])
}

/// Stops the testnet in this directory however the test ends.
pub struct Down(pub PathBuf);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = std::process::Command::new(medblock())
            .args(["testnet", "down", "--dir", &self.0.display().to_string()])
            .output();
    }
}
