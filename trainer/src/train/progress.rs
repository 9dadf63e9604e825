//! Progress of a worker process, reported to its parent as lines on stdout.
//!
//! `trainer cv --jobs N` runs folds as child processes and draws one combined display.
//! A child calls [`report_as_lines`] first; from then on every bar made by
//! [`crate::train::progress_bar`] is hidden, and a reporter thread prints the current
//! bar's state a few times a second as one line, `@progress <pos> <len> <message>`
//! (see [`Progress`]). The parent reads these lines with [`Progress::parse`].
//!
//! If the parent goes away, the next report fails to write and the worker exits, so
//! no orphaned worker trains on after its parent has died.

use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The prefix of every progress line.
pub const PREFIX: &str = "@progress ";

/// How often the reporter looks at the current bar.
const PERIOD: Duration = Duration::from_millis(250);

/// One progress report: a bar's position, length and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Steps done.
    pub pos: u64,
    /// Steps in all.
    pub len: u64,
    /// What the bar is about (for a fold: `fold 1/5 epoch 3/10`).
    pub message: String,
}

impl Progress {
    /// The report as one line (without the newline); newlines in the message become spaces.
    pub fn to_line(&self) -> String {
        let message = self.message.replace(['\n', '\r'], " ");
        format!("{PREFIX}{} {} {message}", self.pos, self.len)
    }

    /// Parses a line written by [`Progress::to_line`]; `None` for any other line.
    pub fn parse(line: &str) -> Option<Progress> {
        let rest = line.strip_prefix(PREFIX)?;
        let mut parts = rest.splitn(3, ' ');
        let pos = parts.next()?.parse().ok()?;
        let len = parts.next()?.parse().ok()?;
        let message = parts.next().unwrap_or("").to_owned();
        Some(Progress { pos, len, message })
    }
}

/// The bar being reported, when reporting is on.
static CURRENT: Mutex<Option<ProgressBar>> = Mutex::new(None);
/// Set once reporting is on (and the reporter thread runs).
static REPORTING: OnceLock<()> = OnceLock::new();

/// Turns line reporting on for this process (idempotent): bars passed to [`watch`]
/// are hidden and their state goes to stdout as progress lines.
pub fn report_as_lines() {
    REPORTING.get_or_init(|| {
        std::thread::spawn(reporter);
    });
}

/// True once [`report_as_lines`] has been called.
pub fn reporting_as_lines() -> bool {
    REPORTING.get().is_some()
}

/// Makes `bar` the one reported, if line reporting is on; otherwise does nothing.
pub fn watch(bar: &ProgressBar) {
    if reporting_as_lines() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
        *lock() = Some(bar.clone());
    }
}

fn lock() -> std::sync::MutexGuard<'static, Option<ProgressBar>> {
    CURRENT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Prints the current bar's state whenever it changes; exits the process when stdout
/// is gone (the parent has died).
fn reporter() {
    let mut last: Option<Progress> = None;
    loop {
        std::thread::sleep(PERIOD);
        let now = {
            let mut current = lock();
            match current.as_ref() {
                Some(bar) => {
                    let p = Progress {
                        pos: bar.position(),
                        len: bar.length().unwrap_or(0),
                        message: bar.message(),
                    };
                    if bar.is_finished() {
                        *current = None;
                    }
                    Some(p)
                }
                None => None,
            }
        };
        let Some(now) = now else { continue };
        if last.as_ref() == Some(&now) {
            continue;
        }
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{}", now.to_line())
            .and_then(|()| out.flush())
            .is_err()
        {
            std::process::exit(1);
        }
        last = Some(now);
    }
}

/// A progress bar on stderr (drawn only on a terminal), or reported as lines to a
/// parent process when [`crate::train::progress::report_as_lines`] is on.
pub fn progress_bar(len: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(message.to_owned());
    // In a `cv --jobs` worker, the parent draws the bar from progress lines instead.
    crate::train::progress::watch(&bar);
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_other_lines_are_ignored() {
        let p = Progress {
            pos: 12,
            len: 1500,
            message: "fold 1/5 epoch 3/10".into(),
        };
        assert_eq!(p.to_line(), "@progress 12 1500 fold 1/5 epoch 3/10");
        assert_eq!(Progress::parse(&p.to_line()), Some(p));
        let empty = Progress {
            pos: 0,
            len: 0,
            message: String::new(),
        };
        assert_eq!(Progress::parse("@progress 0 0"), Some(empty));
        for other in [
            "wrote runs/cv/fold-0.json",
            "@progress x 3 m",
            "@progress 1",
            "",
        ] {
            assert_eq!(Progress::parse(other), None, "{other:?}");
        }
        let multi = Progress {
            pos: 1,
            len: 2,
            message: "a\nb".into(),
        };
        assert_eq!(Progress::parse(&multi.to_line()).unwrap().message, "a b");
    }
}
