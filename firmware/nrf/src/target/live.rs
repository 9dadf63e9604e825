//! The live loop both board apps run: configure the camera (retrying), then frame
//! after frame capture, classify, print a line and show the result on the LEDs.

use embedded_graphics::pixelcolor::Gray8;
use embedded_graphics::prelude::DrawTarget;
use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;
use fw_common::app::{self, DwtStopwatch};
use fw_common::infer_core::IMAGE_LEN as PIXELS;
use fw_common::infer_core::Model;
use fw_common::live::{self, OvCamera};
use fw_common::ov767x::{FrameRate, Ov767x};

use crate::signal::{FaultCounter, Signal};
use crate::target::camera::{GpioBus, InterruptsOff};
use crate::target::leds::Show;

/// Wait between two attempts to configure the sensor.
pub const RETRY_MS: u32 = 1000;

/// Where a board's lines go.
pub trait Console {
    /// Writes one line for the user (the Nano: USB serial; the DK: defmt/RTT).
    fn line(&mut self, line: &str);
    /// Runs after every frame, outside the capture (the Nano: the bytes the host sent).
    fn after_frame(&mut self) {}
}

/// A board running the demo: the camera (configuration and capture), the screen, the
/// LEDs and the console.
#[derive(Debug)]
pub struct Board<'a, I, Dl, D, L, C> {
    /// The sensor's configuration side (SCCB).
    pub sensor: Ov767x<I>,
    /// The frame rate to configure.
    pub rate: FrameRate,
    /// A delay (SysTick).
    pub delay: Dl,
    /// The capture side.
    pub camera: OvCamera<'a, GpioBus, InterruptsOff>,
    /// Where each frame is drawn (`NoDisplay` on the Nano).
    pub screen: D,
    /// The DWT cycle counter.
    pub stopwatch: DwtStopwatch,
    /// The status LEDs.
    pub leds: L,
    /// Where lines go.
    pub console: C,
}

impl<I, Dl, D, L, C> Board<'_, I, Dl, D, L, C>
where
    I: I2c,
    Dl: DelayNs,
    D: DrawTarget<Color = Gray8>,
    L: Show,
    C: Console,
{
    /// Configures the sensor until it answers (each attempt bounded), reporting every
    /// failure as a line (`frame K: camera fault: …; retrying`) and on the LEDs
    /// ([`Signal::CameraFault`]); [`Signal::Starting`] again once it answers.
    pub fn bring_up(&mut self, index: u32) {
        loop {
            match self.sensor.init(self.rate, &mut self.delay) {
                Ok(id) => {
                    defmt::info!("camera {} ready: {}", self.sensor.sensor(), id);
                    self.leds.show(Signal::Starting);
                    self.check_wiring();
                    return;
                }
                Err(e) => {
                    self.leds.show(Signal::CameraFault);
                    self.console.line(live::fault_line(index, &e).as_str());
                    defmt::warn!("camera init: {}", e);
                    self.delay.delay_ms(RETRY_MS);
                }
            }
        }
    }

    /// The place of the wiring self-test (`drivers/ov767x`, branch `wiring`): after
    /// the sensor is configured, run it, print its report line, show
    /// [`Signal::WiringFault`] for a fault, and hand its correction to the capture.
    /// Empty until the self-test is on main.
    fn check_wiring(&mut self) {}

    /// Runs the demo forever: frame after frame, one line each; the sensor is
    /// configured afresh after [`crate::signal::REINIT_AFTER`] camera faults in a row.
    pub fn run(mut self, model: &Model<'_>, scratch: &mut [i8], input: &mut [u8; PIXELS]) -> ! {
        self.bring_up(0);
        let mut faults = FaultCounter::default();
        let mut index = 0u32;
        loop {
            match app::live_frame(
                model,
                index,
                &mut self.camera,
                &mut self.screen,
                &mut self.stopwatch,
                scratch,
                input,
            ) {
                Ok(frame) => {
                    self.console.line(frame.line.as_str());
                    let next = faults.after_frame(frame.garment);
                    self.leds.show(next.signal);
                    if next.reinit {
                        self.bring_up(index);
                    }
                }
                Err(_) => defmt::error!("display write failed"),
            }
            self.console.after_frame();
            index = index.wrapping_add(1);
        }
    }
}
