//! Frame capture over a polled parallel bus.

use crate::{Error, FrameRate, HEIGHT, LINE_BYTES, WIDTH};

/// The three timing lines, sampled together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Levels {
    /// VSYNC: high during the pulse that starts a frame.
    pub vsync: bool,
    /// HREF: high while a line's bytes are on the data lines.
    pub href: bool,
    /// PCLK: the data change on its falling edge and are stable while it is low and high.
    pub pclk: bool,
}

/// The camera's parallel output as the capture sees it.
///
/// A board implements it with port reads (on the Nano 33 BLE, VSYNC, HREF and PCLK
/// are on P0 and [`levels`](Self::levels) is one read of P0's IN register; the data
/// are on P1); the tests with `sim::SimOv7675` (feature `sim`). Each call is
/// one sample: time goes on between calls.
pub trait ParallelBus {
    /// VSYNC, HREF and PCLK now.
    fn levels(&mut self) -> Levels;
    /// D7..D0 now (D0 in bit 0).
    fn data(&mut self) -> u8;
}

impl<T: ParallelBus + ?Sized> ParallelBus for &mut T {
    fn levels(&mut self) -> Levels {
        (**self).levels()
    }

    fn data(&mut self) -> u8 {
        (**self).data()
    }
}

/// Bounds of every wait, in [`ParallelBus::levels`] calls (polls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Limits {
    /// Waiting for VSYNC to rise (up to a whole frame) and to fall again.
    pub frame: u32,
    /// Waiting for HREF to rise (the vertical blanking before line 0, the horizontal
    /// blanking between lines), and the look for a 121st line after line 119.
    pub line: u32,
    /// Waiting for one PCLK edge while HREF is high.
    pub pclk: u32,
}

impl Limits {
    /// Limits for a sensor running at `rate` (XCLK 16 MHz, QQVGA) polled at most
    /// `polls_per_second` times a second (an upper bound: a faster poll makes the
    /// limits shorter in time, a slower one longer).
    ///
    /// Frame period 1/fps; an output line every 4 sensor lines of 510 (127.5 a frame);
    /// PCLK = internal clock / 4. Margins: 2.5 frames for VSYNC (the capture may begin
    /// just after one), 8 output lines for HREF (the vertical blanking before line 0 is
    /// 20 sensor lines, 5 output lines), 4 PCLK periods for an edge.
    pub const fn for_rate(rate: FrameRate, polls_per_second: u32) -> Self {
        let pps = polls_per_second as u64;
        let fps = rate.fps() as u64;
        let frame = pps * 5 / (2 * fps);
        let line = pps * 8 * 2 / (255 * fps);
        let pclk_hz = (rate.internal_clock_hz() / 4) as u64;
        let pclk = pps * 4 / pclk_hz + 4;
        Self {
            frame: clamp(frame),
            line: clamp(line),
            pclk: clamp(pclk),
        }
    }
}

const fn clamp(v: u64) -> u32 {
    if v > u32::MAX as u64 {
        u32::MAX
    } else {
        v as u32
    }
}

/// Waits until `done(levels)`; `Err(last levels)` after `limit` polls.
#[inline(always)]
fn wait<B: ParallelBus>(
    bus: &mut B,
    limit: u32,
    mut done: impl FnMut(Levels) -> bool,
) -> Result<Levels, Levels> {
    let mut last = Levels::default();
    for _ in 0..limit {
        last = bus.levels();
        if done(last) {
            return Ok(last);
        }
    }
    Err(last)
}

/// Captures one QQVGA YUV422 frame and keeps its Y bytes (the even bytes: the sensor
/// must send Y U Y V, as [`tables::QQVGA_YUV422`](crate::tables::QQVGA_YUV422) selects)
/// in `y`, row-major.
///
/// Waits for VSYNC to rise and fall, then for each of the 120 lines for HREF, then
/// per byte for PCLK low (read the data) and PCLK high. Every wait is bounded by
/// `limits`; a frame that does not look like 120 lines of 320 bytes ends in an
/// [`Error`]. On a board, run it with interrupts off: a missed PCLK edge shifts the line.
///
/// The same as [`capture_y_with`] with a hook that does nothing.
pub fn capture_y<B: ParallelBus>(
    bus: &mut B,
    y: &mut [u8; WIDTH * HEIGHT],
    limits: &Limits,
) -> Result<(), Error> {
    capture_y_with(bus, y, limits, || {})
}

/// [`capture_y`], calling `between_lines` once in each line's horizontal blanking:
/// after the line's HREF has fallen, before the wait for the next line's HREF (120
/// calls a frame, the last one after line 119).
///
/// For work that cannot wait a whole frame while interrupts are off, such as polling a
/// USB device (usb-device asks for a poll at least every 10 ms; a frame takes about
/// 200 ms at 5 fps). The hook must return well within the blanking, about 1.3 ms at
/// QQVGA 5 fps (XCLK 16 MHz): if the next line's HREF has risen when it returns, the
/// capture joins that line late and ends in [`Error::ShortLine`] (or another
/// [`Error`]), never in a shifted frame. The wait for the next line starts after the
/// hook returns, so its time does not count against `limits.line`.
pub fn capture_y_with<B: ParallelBus>(
    bus: &mut B,
    y: &mut [u8; WIDTH * HEIGHT],
    limits: &Limits,
    mut between_lines: impl FnMut(),
) -> Result<(), Error> {
    wait(bus, limits.frame, |l| l.vsync).map_err(|_| Error::NoFrame)?;
    wait(bus, limits.frame, |l| !l.vsync).map_err(|_| Error::VsyncStuck)?;
    for (line, row) in y.chunks_exact_mut(WIDTH).enumerate() {
        let line = line as u16;
        let start =
            wait(bus, limits.line, |l| l.href || l.vsync).map_err(|_| Error::NoLine { line })?;
        if !start.href {
            return Err(Error::TooFewLines { lines: line });
        }
        read_line(bus, row, line, limits)?;
        // HREF must fall before another PCLK falling edge: a new byte while HREF is
        // still high makes the line too long.
        let mut was_high = true;
        wait(bus, limits.pclk, |l| {
            if !l.href {
                return true;
            }
            let falling = was_high && !l.pclk;
            was_high = l.pclk;
            falling
        })
        .ok()
        .filter(|l| !l.href)
        .ok_or(Error::LongLine { line })?;
        between_lines();
    }
    // A 121st line would start within a line period; VSYNC or nothing is fine.
    match wait(bus, limits.line, |l| l.href || l.vsync) {
        Ok(l) if l.href => Err(Error::TooManyLines),
        _ => Ok(()),
    }
}

/// The 320 bytes of one line; Y is every even byte.
#[inline(always)]
fn read_line<B: ParallelBus>(
    bus: &mut B,
    row: &mut [u8],
    line: u16,
    limits: &Limits,
) -> Result<(), Error> {
    for byte in 0..LINE_BYTES {
        let at = byte as u16;
        // PCLK low: the byte is on the lines. HREF falling first: the line is short.
        match wait(bus, limits.pclk, |l| !l.pclk || !l.href) {
            Ok(l) if !l.href => return Err(Error::ShortLine { line, bytes: at }),
            Ok(_) => {}
            Err(_) => return Err(Error::PclkStuck { line, byte: at }),
        }
        let d = bus.data();
        if byte % 2 == 0
            && let Some(p) = row.get_mut(byte / 2)
        {
            *p = d;
        }
        wait(bus, limits.pclk, |l| l.pclk).map_err(|_| Error::PclkStuck { line, byte: at })?;
    }
    Ok(())
}
