//! The 64 MHz crystal oscillator (HFXO), started with a bounded wait.
//!
//! nrf52840-hal's `Clocks::enable_ext_hfosc` triggers TASKS_HFCLKSTART and spins on
//! EVENTS_HFCLKSTARTED without a bound, so a crystal that never starts (a damaged or
//! missing part, a board without one) would hang the board silently. [`start_hfxo`]
//! triggers the same task and waits for the same event at most `timeout_ms`; the HAL's
//! call afterwards sees the event already set and returns at once (it clears the event
//! after its spin), so the apps keep the HAL's typed clock state.
//! Sources: the registers through nrf52840-pac (generated from Nordic's SVD: CLOCK's
//! TASKS_HFCLKSTART and EVENTS_HFCLKSTARTED); the start-up time from nrf52840-hal's
//! `clocks.rs` ("Datasheet says this is likely to take 0.36ms"). Verified only against
//! those sources, not on a board.

use embedded_hal::delay::DelayNs;
use nrf52840_hal::pac;

use crate::wait;

/// How long the apps wait for the crystal: a hundred times its start-up time and more.
pub const HFXO_WAIT_MS: u32 = 100;

/// Starts the HFXO and waits for EVENTS_HFCLKSTARTED at most `timeout_ms` (polled
/// every millisecond with `delay`, which runs on the internal oscillator meanwhile).
/// True when it started; the event is left set.
pub fn start_hfxo(clock: &pac::CLOCK, delay: &mut impl DelayNs, timeout_ms: u32) -> bool {
    // SAFETY: writing 1 to a task register only triggers the task.
    clock.tasks_hfclkstart.write(|w| unsafe { w.bits(1) });
    wait::wait_until(timeout_ms, 1, delay, || {
        clock.events_hfclkstarted.read().bits() == 1
    })
}
