//! `trainer camera`: what the board's camera and model see, over its USB serial port
//! (the protocol: `docs/serial-protocol.md`; the host's side: `trainer_core::board`).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use trainer_core::board::{self, BoardError, Options};

use crate::{CameraAction, CameraArgs};

/// Runs `snap`, `watch` or `record`.
pub fn run(args: CameraArgs) -> Result<ExitCode> {
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout <= 3600.0) {
        bail!("--timeout must be between 0 and 3600 seconds");
    }
    let options = Options {
        timeout: Duration::from_secs_f64(args.timeout),
        retries: args.retries,
    };
    if let CameraAction::Record { label, .. } = &args.action {
        // Before the port: a bad label asks nothing of the board.
        board::check_label(label)?;
    }
    // Ctrl-C ends `watch` and `record` between frames (and any wait for an answer).
    trainer_core::interrupt::install();
    let mut board = board::open(&args.port, options)?.with_stop(trainer_core::interrupt::requested);
    match args.action {
        CameraAction::Snap { out } => {
            let snap = board.snap()?;
            println!("{}", snap.line());
            for path in board::save_snapshot(&snap, &out)? {
                println!("wrote {}", path.display());
            }
        }
        CameraAction::Watch => loop {
            match board.snap() {
                Ok(snap) => println!("{}", snap.line()),
                Err(BoardError::Stopped) => break,
                Err(e) => return Err(e.into()),
            }
        },
        CameraAction::Record { dir, label, count } => {
            let mut next = board::next_index(&dir, &label);
            for k in 0..count {
                let snap = match board.snap() {
                    Ok(s) => s,
                    Err(BoardError::Stopped) => {
                        return Err(trainer_core::interrupt::Interrupted {
                            hint: format!("recorded {k} of {count} frames"),
                        }
                        .into());
                    }
                    Err(e) => return Err(e.into()),
                };
                let (path, n) = board::record_frame(&snap, &dir, &label, next)?;
                next = n + 1;
                println!("{} -> {}", snap.line(), path.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
