//! The camera's side of the board: XCLK and the input pins (by plans), the parallel
//! bus on GPIO, and the interrupts-off guard of the capture.

use fw_common::ov767x::{Levels, ParallelBus};
use nrf52840_hal::pac;

use crate::startup;
use crate::target::mmio;
use crate::wiring::CameraPins;

/// The camera's parallel bus on GPIO: VSYNC, HREF and PCLK on port 0 (one read of
/// P0.IN), D0..D7 on port 1 (one read of P1.IN, assembled by the board's function).
#[derive(Debug)]
pub struct GpioBus {
    vsync: u32,
    href: u32,
    pclk: u32,
    byte: fn(u32) -> u8,
}

/// Configures the camera's bus pins as inputs and starts XCLK (16 MHz from the I2S
/// master clock, its pin an output first): [`startup::camera_inputs`], then
/// [`startup::xclk`]. Takes the I2S, which only generates XCLK from now on. The app
/// must not hand the bus pins or the XCLK pin to the HAL.
pub fn start(pins: &CameraPins, _i2s: pac::I2S) -> GpioBus {
    mmio::apply(&startup::camera_inputs(pins));
    mmio::apply(&startup::xclk(pins.xclk));
    GpioBus {
        vsync: 1 << pins.vsync,
        href: 1 << pins.href,
        pclk: 1 << pins.pclk,
        byte: pins.byte,
    }
}

impl ParallelBus for GpioBus {
    #[inline(always)]
    fn levels(&mut self) -> Levels {
        // SAFETY: a volatile read of P0.IN, a read-only register without side effects.
        let p0 = unsafe { (*pac::P0::ptr()).in_.read().bits() };
        Levels {
            vsync: p0 & self.vsync != 0,
            href: p0 & self.href != 0,
            pclk: p0 & self.pclk != 0,
        }
    }

    #[inline(always)]
    fn data(&mut self) -> u8 {
        // SAFETY: as above, for P1.IN.
        let p1 = unsafe { (*pac::P1::ptr()).in_.read().bits() };
        (self.byte)(p1)
    }
}

/// Runs the capture with interrupts off, as the bit-banged capture needs (a missed
/// PCLK edge shifts a line). USB is serviced between lines instead
/// ([`crate::target::usb::service`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct InterruptsOff;

impl fw_common::live::CaptureGuard for InterruptsOff {
    fn run<R>(&mut self, f: impl FnOnce() -> R) -> R {
        cortex_m::interrupt::free(|_| f())
    }
}
