//! Shared helpers of the `trainer` integration tests: the binary run in a clean
//! environment (the fault hooks always cleared), output checks and small fixtures.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// The fault hooks of `trainer_core::files::atomic` and `trainer_core::interrupt`: set
/// only by the tests that ask for them, never inherited from the caller's environment.
pub const FAULT_HOOKS: [&str; 2] = ["TRAINER_TEST_DISK_FULL", "TRAINER_TEST_PAUSE"];

/// The `trainer` binary with `args`, no backtraces, and every fault hook cleared.
pub fn command<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trainer"));
    c.args(args).env("RUST_BACKTRACE", "0");
    for hook in FAULT_HOOKS {
        c.env_remove(hook);
    }
    c
}

/// Runs `trainer` with `args` and the given extra environment, and waits for it.
pub fn trainer_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = command(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run trainer")
}

/// Runs `trainer` with `args` and waits for it.
pub fn trainer(args: &[&str]) -> Output {
    trainer_env(args, &[])
}

/// Standard output and standard error as text.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts success, showing both streams otherwise.
pub fn assert_ok(out: &Output) {
    let (stdout, stderr) = text(out);
    assert!(out.status.success(), "{stdout}{stderr}");
}

/// Asserts a clean failure: exit status 1, an `error:` message containing `needle`, no panic.
pub fn assert_fails_with(out: &Output, needle: &str) {
    let (stdout, stderr) = text(out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stderr.contains("error:"), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A JSON file, parsed.
pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every file name under `dir` (recursively, relative), sorted; empty if `dir` is missing.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}

/// Asserts that no temporary file (`*.tmp*`) is left under `dir`.
pub fn no_temporary_files(dir: &Path) {
    let tmp: Vec<String> = tree(dir)
        .into_iter()
        .filter(|f| f.contains(".tmp"))
        .collect();
    assert!(tmp.is_empty(), "temporary files left: {tmp:?}");
}
