//! A bounded wait: poll a condition every `step_ms` until it holds or `timeout_ms`
//! have passed.

use embedded_hal::delay::DelayNs;

/// Polls `ready` every `step_ms` (at least 1) until it is true (returns true) or about
/// `timeout_ms` have passed (returns false). `ready` is asked at least once.
pub fn wait_until(
    timeout_ms: u32,
    step_ms: u32,
    delay: &mut impl DelayNs,
    mut ready: impl FnMut() -> bool,
) -> bool {
    let step = step_ms.max(1);
    let mut waited = 0u32;
    loop {
        if ready() {
            return true;
        }
        if waited >= timeout_ms {
            return false;
        }
        delay.delay_ms(step);
        waited = waited.saturating_add(step);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the milliseconds waited.
    #[derive(Default)]
    struct Clock(u32);
    impl DelayNs for Clock {
        fn delay_ns(&mut self, ns: u32) {
            self.0 += ns / 1_000_000;
        }
        fn delay_ms(&mut self, ms: u32) {
            self.0 += ms;
        }
    }

    #[test]
    fn returns_as_soon_as_ready() {
        let mut clock = Clock::default();
        let mut polls = 0;
        assert!(wait_until(3000, 10, &mut clock, || {
            polls += 1;
            polls == 5
        }));
        assert_eq!(clock.0, 40);
    }

    #[test]
    fn gives_up_after_the_timeout() {
        let mut clock = Clock::default();
        let mut polls = 0;
        assert!(!wait_until(3000, 10, &mut clock, || {
            polls += 1;
            false
        }));
        assert_eq!(clock.0, 3000);
        assert_eq!(polls, 301);
    }

    #[test]
    fn a_zero_step_still_ends() {
        let mut clock = Clock::default();
        assert!(!wait_until(5, 0, &mut clock, || false));
        assert_eq!(clock.0, 5);
    }
}
