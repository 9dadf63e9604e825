//! SIGINT (Ctrl-C) and SIGTERM (`kill`, Slurm's time limit) set a flag instead of
//! killing the process, so that long work can stop at a safe point, clean up and say
//! how to resume. A second signal exits at once with status 130.
//!
//! The handler does only async-signal-safe things: an atomic increment, `write(2)` of
//! a fixed message and, for the second signal, `_exit`.
//!
//! On other platforms than Unix, [`install`] does nothing and [`raised`] stays false.

use std::sync::atomic::{AtomicU32, Ordering};

static COUNT: AtomicU32 = AtomicU32::new(0);

/// Exit status after a second signal (128 + SIGINT, as shells report Ctrl-C).
pub const EXIT_CODE: i32 = 130;

/// Installs the handler for SIGINT and SIGTERM. Returns false if it could not be.
pub fn install() -> bool {
    imp::install()
}

/// True once SIGINT or SIGTERM has arrived.
pub fn raised() -> bool {
    COUNT.load(Ordering::SeqCst) > 0
}

#[cfg(unix)]
#[allow(unsafe_code)]
mod imp {
    use super::{COUNT, EXIT_CODE};
    use std::sync::atomic::Ordering;

    extern "C" fn on_signal(_: libc::c_int) {
        let first = COUNT.fetch_add(1, Ordering::SeqCst) == 0;
        let msg: &[u8] = if first {
            b"\ninterrupted: stopping after the current step (again to stop at once)\n"
        } else {
            b"\ninterrupted again: stopping now\n"
        };
        // SAFETY: write(2) and _exit(2) are async-signal-safe; `msg` is a valid buffer
        // of `msg.len()` bytes for the duration of the call.
        unsafe {
            libc::write(2, msg.as_ptr().cast(), msg.len());
            if !first {
                libc::_exit(EXIT_CODE);
            }
        }
    }

    pub fn install() -> bool {
        let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        [libc::SIGINT, libc::SIGTERM].into_iter().all(|sig| {
            // SAFETY: `on_signal` is an `extern "C" fn(c_int)` that only performs
            // async-signal-safe operations, as a signal handler must.
            unsafe { libc::signal(sig, handler) != libc::SIG_ERR }
        })
    }
}

#[cfg(not(unix))]
mod imp {
    pub fn install() -> bool {
        false
    }
}
