// nRF52840 code shared by `nano33ble/src/main.rs` and `nrf52840/src/main.rs`
// (`include!`d into a module of each).

use fw_common::ov767x::{Levels, ParallelBus};
use nrf52840_hal::pac;

/// Starts XCLK: 16 MHz on P0.`pin` from the I2S master clock (MCKFREQ = 32MDIV2,
/// nRF52840 PS v1.7 section 6.11.10.10). Neither nrf52840-hal nor embassy-nrf exposes
/// this divider, hence the register writes. The I2S only generates MCK; it moves no
/// data.
pub fn start_xclk(i2s: &pac::I2S, pin: u8) {
    i2s.config.mode.write(|w| w.mode().master());
    i2s.config.mckfreq.write(|w| w.mckfreq()._32mdiv2());
    i2s.config.mcken.write(|w| w.mcken().enabled());
    i2s.psel.mck.write(|w| {
        // SAFETY: `pin` is below 32 (a pin of port 0); the field takes any such value.
        unsafe { w.pin().bits(pin & 0x1F) }
            .port()
            .clear_bit()
            .connect()
            .connected()
    });
    i2s.enable.write(|w| w.enable().enabled());
    // SAFETY: writing 1 to a task register only triggers the task.
    i2s.tasks_start.write(|w| unsafe { w.bits(1) });
}

/// The camera's parallel bus on GPIO: VSYNC, HREF and PCLK on port 0 (one read of
/// P0.IN), D0..D7 on port 1 (one read of P1.IN, assembled by `data`). The pins must be
/// configured as inputs (input buffer connected) beforehand.
pub struct GpioBus {
    /// P0 bit of VSYNC.
    pub vsync: u32,
    /// P0 bit of HREF.
    pub href: u32,
    /// P0 bit of PCLK.
    pub pclk: u32,
    /// D7..D0 from P1.IN.
    pub data: fn(u32) -> u8,
}

impl ParallelBus for GpioBus {
    #[inline(always)]
    fn levels(&mut self) -> Levels {
        // SAFETY: a volatile read of P0.IN, a read-only register without side effects;
        // the GPIO pins stay owned (and configured) by the HAL.
        let p0 = unsafe { (*pac::P0::ptr()).in_.read().bits() };
        Levels {
            vsync: p0 & (1 << self.vsync) != 0,
            href: p0 & (1 << self.href) != 0,
            pclk: p0 & (1 << self.pclk) != 0,
        }
    }

    #[inline(always)]
    fn data(&mut self) -> u8 {
        // SAFETY: as above, for P1.IN.
        let p1 = unsafe { (*pac::P1::ptr()).in_.read().bits() };
        (self.data)(p1)
    }
}

/// Runs the capture with interrupts off, as the bit-banged capture needs.
pub struct InterruptsOff;

impl fw_common::live::CaptureGuard for InterruptsOff {
    fn run<R>(&mut self, f: impl FnOnce() -> R) -> R {
        cortex_m::interrupt::free(|_| f())
    }
}
