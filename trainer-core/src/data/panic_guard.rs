//! Running third-party code that may panic on hostile input, as an error instead.
//!
//! The image decoders are not all panic-free: `zune-jpeg` 0.5 (the `image` crate's JPEG
//! decoder) panics on some corrupt JPEGs (an `unwrap` in its AVX2 IDCT; found by the fuzz
//! target `image_input`, reported upstream as etemesi254/zune-image#361). [`quietly`]
//! catches such a panic, without the panic message that the default hook would print,
//! and returns it as an error message.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// True while this thread runs inside [`quietly`].
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

static HOOK: Once = Once::new();

/// Runs `f`; a panic inside it becomes `Err(its message)`. The panic hook in place
/// (the default one or another, e.g. a fuzzer's) still sees panics everywhere else.
pub fn quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::quietly;

    #[test]
    fn a_panic_becomes_its_message_and_values_pass_through() {
        assert_eq!(quietly(|| 7), Ok(7));
        let v: Vec<u8> = Vec::new();
        let e = quietly(|| v.first().copied().unwrap()).unwrap_err();
        assert!(e.contains("None"), "{e}");
        assert_eq!(
            quietly(|| -> u8 { panic!("bad {}", 3) }),
            Err("bad 3".to_owned())
        );
    }
}
