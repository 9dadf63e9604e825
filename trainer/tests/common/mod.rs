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
pub fn trainer_env<S: AsRef<std::ffi::OsStr>>(args: &[S], env: &[(&str, &str)]) -> Output {
    let mut c = command(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run trainer")
}

/// Runs `trainer` with `args` and waits for it.
pub fn trainer<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
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

/// Asserts success (as [`assert_ok`]) and returns standard output as text.
pub fn stdout_ok(out: &Output) -> String {
    assert_ok(out);
    text(out).0
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

/// The names in `dir` (not recursive), sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The start of a `trainer fit` of `model` for `epochs` on the first `limit` training
/// images, in fp32 (`fit`'s default `auto` would time a probe and may take bf16; one
/// test checks it); the callers add the rest.
pub fn fit_args<'a>(model: &'a str, epochs: &'a str, limit: &'a str) -> Vec<&'a str> {
    vec![
        "fit",
        "--model",
        model,
        "--epochs",
        epochs,
        "--limit",
        limit,
        "--precision",
        "fp32",
    ]
}

/// The small evaluation and int8 export of the quick fits, on one thread: 100 test
/// images, 100 calibration images.
pub const SMALL_EVAL: [&str; 6] = ["--test-limit", "100", "--calib", "100", "--threads", "1"];

/// The start of a 2-fold, 1-epoch `trainer cv` on the first `limit` images.
pub fn cv_args(limit: &str) -> Vec<&str> {
    vec!["cv", "--folds", "2", "--epochs", "1", "--limit", limit]
}

/// Sets the value that follows `flag` in `args` (the flag must be there).
pub fn set_flag<S: AsRef<str>>(args: &mut [S], flag: &str, value: S) {
    let at = args
        .iter()
        .position(|a| a.as_ref() == flag)
        .unwrap_or_else(|| panic!("no {flag} in the arguments"));
    args[at + 1] = value;
}

/// Copies the real dataset into a temporary folder.
pub fn dataset_copy() -> tempfile::TempDir {
    let real = trainer_core::data::locate(None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (stem, _) in trainer_core::data::OFFICIAL_FILES {
        let src = trainer_core::data::find_file(&real, stem).unwrap();
        std::fs::copy(&src, dir.path().join(src.file_name().unwrap())).unwrap();
    }
    dir
}

/// The first image of the real dataset's test split.
pub fn first_test_image() -> image::GrayImage {
    let data = trainer_core::data::locate(None).unwrap();
    let test = trainer_core::data::load(&data, trainer_core::data::Split::Test).unwrap();
    image::GrayImage::from_raw(28, 28, test.image(0).to_vec()).unwrap()
}
