//! What the board apps add to the pipeline: a live camera as a [`FrameSource`], and the
//! one line per frame a user reads on the serial port.
//!
//! ```text
//! frame 12: Sneaker 87 % (capture 201 ms, classify 158 ms)
//! frame 13: no garment found (capture 199 ms, classify 0 ms)
//! frame 14: camera fault: PCLK stuck at line 3 byte 17; retrying
//! ```
//! The host computes the same lines from the same outcomes (`fw-host`'s tests), so the
//! only thing that differs on a board is the timing in brackets.

use core::fmt::Write as _;

use camera::Frame;
use embedded_hal::i2c::I2c;
use ov767x::{Correction, HEIGHT, Limits, Ov767x, ParallelBus, WIDTH, Wiring, WiringReport};

use crate::frames::{Captured, FrameSource};
use crate::pipeline::{NOTHING, Outcome};

/// Longest line [`answer_line`] or [`fault_line`] writes.
pub const LINE_LEN: usize = 96;

/// One line of text for the serial port (without the line end).
pub type Line = heapless::String<LINE_LEN>;

/// Runs the capture, for example with interrupts off (a missed PCLK edge shifts a line).
pub trait CaptureGuard {
    /// Runs `f` and returns its result.
    fn run<R>(&mut self, f: impl FnOnce() -> R) -> R;
}

/// Runs the capture as it is (the host, the simulation).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoGuard;

impl CaptureGuard for NoGuard {
    fn run<R>(&mut self, f: impl FnOnce() -> R) -> R {
        f()
    }
}

/// Short work done in each horizontal blanking of a capture, inside the
/// [`CaptureGuard`] (so with interrupts off on the boards): for example a USB poll,
/// which usb-device wants at least every 10 ms while a frame takes about 200 ms.
///
/// [`between_lines`](Self::between_lines) runs 120 times a frame, after each line's
/// HREF falls; it must return within the blanking (about 1.3 ms at QQVGA 5 fps), or
/// the capture ends in an error ([`ov767x::capture_y_with`]). Any `FnMut()` is a hook.
pub trait LineHook {
    /// The work for one blanking.
    fn between_lines(&mut self);
}

/// No work between lines (what [`OvCamera::new`] starts with).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHook;

impl LineHook for NoHook {
    fn between_lines(&mut self) {}
}

impl<F: FnMut()> LineHook for F {
    fn between_lines(&mut self) {
        self()
    }
}

/// An OV767x on a parallel bus as a [`FrameSource`]: every [`next_frame`] captures the
/// Y plane of one QQVGA frame into the buffer it was given, undoes the board's
/// [`Wiring`] (see [`check_wiring`]) and lends it out.
///
/// [`next_frame`]: FrameSource::next_frame
/// [`check_wiring`]: OvCamera::check_wiring
#[derive(Debug)]
pub struct OvCamera<'a, B, G = NoGuard, H = NoHook> {
    bus: B,
    y: &'a mut [u8; WIDTH * HEIGHT],
    limits: Limits,
    guard: G,
    hook: H,
    correction: Correction,
}

impl<'a, B: ParallelBus, G: CaptureGuard> OvCamera<'a, B, G> {
    /// Captures from `bus` into `y`, every wait bounded by `limits`, each capture run
    /// through `guard`, no hook, the standard wiring. The sensor must be configured
    /// ([`ov767x::Ov767x::init`]).
    pub fn new(bus: B, y: &'a mut [u8; WIDTH * HEIGHT], limits: Limits, guard: G) -> Self {
        Self {
            bus,
            y,
            limits,
            guard,
            hook: NoHook,
            correction: Correction::default(),
        }
    }
}

impl<'a, B: ParallelBus, G: CaptureGuard, H: LineHook> OvCamera<'a, B, G, H> {
    /// The same camera, running `hook` in each horizontal blanking of every capture
    /// (the wiring self-test's too).
    pub fn with_hook<H2: LineHook>(self, hook: H2) -> OvCamera<'a, B, G, H2> {
        OvCamera {
            bus: self.bus,
            y: self.y,
            limits: self.limits,
            guard: self.guard,
            hook,
            correction: self.correction,
        }
    }

    /// The Y plane of the last capture (what `trainer camera` is sent).
    pub fn frame(&self) -> &[u8; WIDTH * HEIGHT] {
        self.y
    }

    /// The bus (to reconfigure or inspect it).
    pub fn bus_mut(&mut self) -> &mut B {
        &mut self.bus
    }

    /// The hook (to use what it owns between frames, a USB device say).
    pub fn hook_mut(&mut self) -> &mut H {
        &mut self.hook
    }

    /// Corrects every later frame for `wiring` (the identity turns correction off).
    pub fn set_wiring(&mut self, wiring: Wiring) {
        self.correction = wiring.correction();
    }

    /// Runs the wiring self-test ([`ov767x::Ov767x::check_wiring_with`]) with this
    /// camera's capture (guard, hook, buffer), then corrects every later frame for the
    /// wiring found ([`WiringReport::wiring`]: the identity unless the lines are
    /// permuted). `sensor` is the same camera's configuration side, initialised. Print
    /// the report: its `Display` is the user's line. Six frames (1.2 s at 5 fps).
    pub fn check_wiring<I: I2c>(
        &mut self,
        sensor: &mut Ov767x<I>,
    ) -> Result<WiringReport, ov767x::Error> {
        let Self {
            bus,
            y,
            limits,
            guard,
            hook,
            ..
        } = self;
        let report = sensor.check_wiring_with(y, |y| {
            guard.run(|| ov767x::capture_y_with(&mut *bus, y, limits, || hook.between_lines()))
        })?;
        self.set_wiring(report.wiring());
        Ok(report)
    }
}

impl<B: ParallelBus, G: CaptureGuard, H: LineHook> FrameSource for OvCamera<'_, B, G, H> {
    type Error = ov767x::Error;

    /// Never `Ok(None)`: a camera always has another frame.
    fn next_frame(&mut self) -> Result<Option<Captured<'_>>, Self::Error> {
        let Self {
            bus,
            y,
            limits,
            guard,
            hook,
            correction,
        } = self;
        guard.run(|| ov767x::capture_y_with(bus, y, limits, || hook.between_lines()))?;
        // Outside the guard: 19,200 table look-ups when the wiring is not the standard one.
        correction.apply(&mut y[..]);
        let frame = Frame::new(&y[..], WIDTH, HEIGHT)
            .map_err(|_| ov767x::Error::TooFewLines { lines: 0 })?;
        Ok(Some(Captured { frame, label: None }))
    }
}

/// The line for a processed frame: `frame K: NAME P % (capture C ms, classify T ms)`,
/// or `frame K: no garment found (…)`, or `frame K: error E (…)`.
pub fn answer_line(index: u32, outcome: &Outcome<'_>, capture_ms: u32, classify_ms: u32) -> Line {
    let mut line = Line::new();
    // A line of at most 96 bytes: a class name is at most 20 bytes (Fashion-MNIST's at
    // most 11; one's own: `trainer_core::data::folders::MAX_NAME_BYTES`), so the longest
    // line is 90 bytes; on overflow the line is cut, never a panic.
    let _ = match &outcome.result {
        Ok((_, p)) => write!(
            line,
            "frame {index}: {} {} %",
            p.name, outcome.confidence_percent
        ),
        Err(e) if e.nothing_there() => write!(line, "frame {index}: {NOTHING}"),
        Err(e) => write!(line, "frame {index}: error {}", e.name()),
    };
    let _ = write!(
        line,
        " (capture {capture_ms} ms, classify {classify_ms} ms)"
    );
    line
}

/// The line for a frame the camera failed to deliver:
/// `frame K: camera fault: WHAT; retrying`.
pub fn fault_line(index: u32, error: &ov767x::Error) -> Line {
    let mut line = Line::new();
    let _ = write!(line, "frame {index}: camera fault: {error}; retrying");
    line
}

/// True when the frame holds a garment (the RGB LED's green), false for "no garment
/// found" or an error (red).
pub fn garment(outcome: &Outcome<'_>) -> bool {
    outcome.result.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ov767x::sim::{Fault, SimOv7675};

    /// Configures `sim` for 5 fps and hands `f` an `OvCamera` over it.
    fn with_camera<R>(
        mut sim: SimOv7675,
        f: impl FnOnce(&mut OvCamera<'_, &mut SimOv7675>) -> R,
    ) -> R {
        ov767x::Ov767x::new(&mut sim, ov767x::Sensor::Ov7675)
            .init(ov767x::FrameRate::Fps5, &mut NoDelay)
            .unwrap();
        let limits = sim.limits();
        let mut y = [0u8; WIDTH * HEIGHT];
        f(&mut OvCamera::new(&mut sim, &mut y, limits, NoGuard))
    }

    #[test]
    fn the_camera_source_lends_the_captured_y_plane() {
        let pic: std::vec::Vec<u8> = (0..WIDTH * HEIGHT).map(|i| (i * 31 % 251) as u8).collect();
        with_camera(SimOv7675::new(&pic), |cam| {
            let c = cam.next_frame().unwrap().unwrap();
            assert_eq!(c.frame, Frame::new(&pic, WIDTH, HEIGHT).unwrap());
            assert_eq!(c.label, None);
        });
    }

    #[test]
    fn a_camera_fault_is_an_error_and_its_line() {
        let sim = SimOv7675::new(&[]).with_fault(Fault::NoVsync);
        let e = with_camera(sim, |cam| cam.next_frame().unwrap_err());
        assert_eq!(e, ov767x::Error::NoFrame);
        assert_eq!(
            fault_line(3, &e).as_str(),
            "frame 3: camera fault: no VSYNC (no frame); retrying"
        );
    }

    #[test]
    fn the_hook_runs_between_every_line_and_the_frame_is_exact() {
        let pic: std::vec::Vec<u8> = (0..WIDTH * HEIGHT).map(|i| (i * 7 % 253) as u8).collect();
        let mut sim = SimOv7675::new(&pic);
        ov767x::Ov767x::new(&mut sim, ov767x::Sensor::Ov7675)
            .init(ov767x::FrameRate::Fps5, &mut NoDelay)
            .unwrap();
        let limits = sim.limits();
        let mut y = [0u8; WIDTH * HEIGHT];
        let mut calls = 0;
        let mut cam = OvCamera::new(&mut sim, &mut y, limits, NoGuard).with_hook(|| calls += 1);
        for _ in 0..2 {
            let c = cam.next_frame().unwrap().unwrap();
            assert_eq!(c.frame, Frame::new(&pic, WIDTH, HEIGHT).unwrap());
        }
        assert_eq!(calls, 2 * HEIGHT);
    }

    #[test]
    fn a_found_swap_is_corrected_in_every_later_frame() {
        use core::cell::RefCell;
        use ov767x::sim::{BusFault, SimHandle};
        let pic: std::vec::Vec<u8> = (0..WIDTH * HEIGHT).map(|i| (i * 31 % 251) as u8).collect();
        let cell = RefCell::new(SimOv7675::new(&pic).with_bus_fault(BusFault::swap(0, 1)));
        let mut sensor = ov767x::Ov767x::new(SimHandle(&cell), ov767x::Sensor::Ov7675);
        sensor.init(ov767x::FrameRate::Fps5, &mut NoDelay).unwrap();
        let limits = cell.borrow().limits();
        let mut y = [0u8; WIDTH * HEIGHT];
        let mut lines = 0;
        let mut cam =
            OvCamera::new(SimHandle(&cell), &mut y, limits, NoGuard).with_hook(|| lines += 1);
        let wanted = Frame::new(&pic, WIDTH, HEIGHT).unwrap();
        assert_ne!(cam.next_frame().unwrap().unwrap().frame, wanted);
        let report = cam.check_wiring(&mut sensor).unwrap();
        assert_eq!(
            report.to_string(),
            "camera wiring: D0/D1 swapped, corrected"
        );
        for _ in 0..2 {
            assert_eq!(cam.next_frame().unwrap().unwrap().frame, wanted);
        }
        cam.set_wiring(Wiring::IDENTITY);
        assert_ne!(cam.next_frame().unwrap().unwrap().frame, wanted);
        // Every capture, the self-test's six too, ran the hook on each line.
        assert_eq!(lines, (4 + ov767x::wiring::TEST_FRAMES) * HEIGHT);
    }

    struct NoDelay;
    impl embedded_hal::delay::DelayNs for NoDelay {
        fn delay_ns(&mut self, _ns: u32) {}
    }
}
