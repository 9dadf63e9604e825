//! The live loop both board apps run: configure the camera (retrying), then frame
//! after frame capture, classify, print a line and show the result on the LEDs.

use core::fmt::Write as _;

use embedded_graphics::pixelcolor::Gray8;
use embedded_graphics::prelude::DrawTarget;
use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;
use fw_common::app::{self, DwtStopwatch};
use fw_common::infer_core::IMAGE_LEN as PIXELS;
use fw_common::infer_core::Model;
use fw_common::link::Verdict;
use fw_common::live::{self, Line, LineHook, OvCamera};
use fw_common::ov767x::{FrameRate, HEIGHT, Ov767x, WIDTH};

use crate::signal::{FaultCounter, Signal};
use crate::target::camera::{GpioBus, InterruptsOff};
use crate::target::leds::Show;

/// Wait between two attempts to configure the sensor.
pub const RETRY_MS: u32 = 1000;
/// How long [`Signal::WiringFault`] shows after the wiring self-test found a fault.
pub const WIRING_FAULT_MS: u32 = 3000;

/// A frame just answered, for [`Console::after_frame`] (the serial link's answer).
#[derive(Debug)]
pub struct Answered<'f, 'm> {
    /// The frame's number (as in its line).
    pub index: u32,
    /// Its Y plane.
    pub frame: &'f [u8; WIDTH * HEIGHT],
    /// The model's input made from it.
    pub input: &'f [u8; PIXELS],
    /// What the model said.
    pub verdict: Verdict<'m>,
}

/// Where a board's lines go.
pub trait Console {
    /// Writes one line for the user (the Nano: USB serial; the DK: defmt/RTT).
    fn line(&mut self, line: &str);
    /// Runs after every frame's line, outside the capture (the Nano: the bytes the
    /// host sent, and the serial link's answer when one was asked for).
    fn after_frame(&mut self, _answered: &Answered<'_, '_>) {}
}

/// A board running the demo: the camera (configuration and capture), the screen, the
/// LEDs and the console.
#[derive(Debug)]
pub struct Board<'a, I, Dl, D, L, C, H> {
    /// The sensor's configuration side (SCCB).
    pub sensor: Ov767x<I>,
    /// The frame rate to configure.
    pub rate: FrameRate,
    /// A delay (SysTick).
    pub delay: Dl,
    /// The capture side, with its hook between lines (the Nano: the USB poll).
    pub camera: OvCamera<'a, GpioBus, InterruptsOff, H>,
    /// Where each frame is drawn (`NoDisplay` on the Nano).
    pub screen: D,
    /// The DWT cycle counter.
    pub stopwatch: DwtStopwatch,
    /// The status LEDs.
    pub leds: L,
    /// Where lines go.
    pub console: C,
}

impl<I, Dl, D, L, C, H> Board<'_, I, Dl, D, L, C, H>
where
    H: LineHook,
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

    /// The wiring self-test (`ov767x::wiring`, docs/camera-wiring.md: six frames,
    /// through the camera's guard and hook): its report as a line (`camera wiring:
    /// ok`, `… D0/D1 swapped, corrected`, `… D5 stuck low — check the shield's
    /// connector`, `… self-test inconclusive`), and [`Signal::WiringFault`] for
    /// [`WIRING_FAULT_MS`] when a line is stuck or floating. Every later frame is
    /// corrected for the wiring found. A capture or SCCB error of the test is a line
    /// (`camera wiring: self-test failed: …`); the standard wiring stays.
    pub fn check_wiring(&mut self) {
        let mut line = Line::new();
        match self.camera.check_wiring(&mut self.sensor) {
            Ok(report) => {
                defmt::info!("{}", report);
                let _ = write!(line, "{report}");
                self.console.line(line.as_str());
                if let Some(fault) = Signal::for_wiring(&report) {
                    self.leds.show(fault);
                    self.delay.delay_ms(WIRING_FAULT_MS);
                    self.leds.show(Signal::Starting);
                }
            }
            Err(e) => {
                defmt::warn!("camera wiring: self-test failed: {}", e);
                let _ = write!(line, "camera wiring: self-test failed: {e}");
                self.console.line(line.as_str());
            }
        }
    }

    /// Runs the demo forever: configures the sensor, runs the wiring self-test once,
    /// then frame after frame, one line each; the sensor is configured afresh after
    /// [`crate::signal::REINIT_AFTER`] camera faults in a row (the wiring found at
    /// boot stays).
    pub fn run(mut self, model: &Model<'_>, scratch: &mut [i8], input: &mut [u8; PIXELS]) -> ! {
        self.bring_up(0);
        self.check_wiring();
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
                    self.console.after_frame(&Answered {
                        index,
                        frame: self.camera.frame(),
                        input,
                        verdict: frame.verdict,
                    });
                    let next = faults.after_frame(frame.garment);
                    self.leds.show(next.signal);
                    if next.reinit {
                        self.bring_up(index);
                    }
                }
                Err(_) => defmt::error!("display write failed"),
            }
            index = index.wrapping_add(1);
        }
    }
}
