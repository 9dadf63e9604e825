//! Plans run on the hardware, by volatile reads and writes.

use crate::plan::{self, Outcome, Registers, Step};

/// The memory-mapped registers themselves. Private: only the plans of this crate
/// reach it, through [`apply`].
struct Mmio;

impl Registers for Mmio {
    fn write(&mut self, addr: u32, value: u32) {
        // SAFETY: `addr` comes from a `Step`, which only this crate makes, from the
        // register addresses in `crate::regs` (each checked against the nRF52840 PAC
        // by the host tests): a 4-byte aligned nRF52840 or Cortex-M4 register that
        // accepts a 32-bit write at any time.
        unsafe { core::ptr::write_volatile(addr as *mut u32, value) }
    }

    fn read(&mut self, addr: u32) -> u32 {
        // SAFETY: as above; reading these registers has no side effect.
        unsafe { core::ptr::read_volatile(addr as *const u32) }
    }
}

/// Runs `steps` on the hardware (every wait bounded) and logs what it found.
pub fn apply(steps: &[Step]) -> Outcome {
    let outcome = plan::run(steps, &mut Mmio);
    if outcome.waits_timed_out > 0 {
        defmt::debug!(
            "plan: {=u32} writes, {=u32} waits ran out",
            outcome.writes,
            outcome.waits_timed_out
        );
    }
    outcome
}

/// Reads a register of [`crate::regs`]. Crate-private: `Reg`'s fields are public, so
/// a public `read` would read any address.
pub(crate) fn read(reg: crate::plan::Reg) -> u32 {
    Mmio.read(reg.addr)
}

/// Restarts into the Arduino bootloader as ArduinoCore-mbed's `_ontouch1200bps_`
/// (Nano 33 BLE `variant.cpp`) does: interrupts off, GPREGRET = 0xB0
/// ([`crate::startup::ENTER_BOOTLOADER`]), a system reset.
pub fn enter_bootloader() -> ! {
    cortex_m::interrupt::disable();
    apply(&crate::startup::ENTER_BOOTLOADER);
    cortex_m::peripheral::SCB::sys_reset()
}
