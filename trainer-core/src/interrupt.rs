//! Ctrl-C (SIGINT) and SIGTERM: long work stops at the next safe point instead of dying
//! mid-write, removes its temporary files, says how to resume and exits with status 130.
//!
//! The signal handler only sets a flag; the training loop polls [`requested`] after
//! every step and returns an [`Interrupted`] error, which unwinds normally (temporary
//! files are deleted as they drop). A second Ctrl-C exits at once. Only the commands
//! that poll the flag (`fit`, `cv`) install the handler; the others keep the default
//! (Ctrl-C ends them at once).

/// Exit status of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_CODE: u8 = 130;

/// Installs the handler (SIGINT and SIGTERM; see the `signal-flag` crate).
pub fn install() {
    signal_flag::install();
}

/// True once Ctrl-C or SIGTERM has arrived.
pub fn requested() -> bool {
    signal_flag::raised()
}

/// The error a run returns when it stopped on request; `hint` says how to resume.
#[derive(Debug, thiserror::Error)]
#[error("interrupted; {hint}")]
pub struct Interrupted {
    /// How to continue the work.
    pub hint: String,
}

/// `Err(Interrupted)` with `hint` when a stop was requested, else `Ok`.
pub fn check(hint: impl FnOnce() -> String) -> Result<(), Interrupted> {
    if requested() {
        Err(Interrupted { hint: hint() })
    } else {
        Ok(())
    }
}

/// Test hook: with `TRAINER_TEST_PAUSE=<point>:<ms>` in the environment, the run sleeps
/// `ms` milliseconds when it reaches `point` (`checkpoint`: after writing each
/// checkpoint; `outputs`: after the weights are in the staging folder; `swap`: between
/// the two renames of a folder swap), so that tests can kill it there.
pub fn test_pause(point: &str) {
    let Ok(spec) = std::env::var("TRAINER_TEST_PAUSE") else {
        return;
    };
    if let Some((at, ms)) = spec.split_once(':')
        && at == point
        && let Ok(ms) = ms.parse::<u64>()
    {
        eprintln!("test pause at {point} for {ms} ms");
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}
