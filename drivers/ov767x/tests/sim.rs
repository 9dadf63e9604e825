//! The driver against the simulated OV7675 (`ov767x::sim`): configuration, capture,
//! every error path in bounded time, and a property test over pictures and timing.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource};
use std::cell::RefCell;

use ov767x::sim::{Fault, SimHandle, SimOv7675, Timing};
use ov767x::{
    Error, FrameRate, HEIGHT, Ov767x, ParallelBus, Sensor, WIDTH, capture_y, capture_y_with, regs,
};
use proptest::prelude::*;

/// Sums the delays asked for.
#[derive(Default)]
struct Delay {
    ns: u64,
}

impl DelayNs for Delay {
    fn delay_ns(&mut self, ns: u32) {
        self.ns += u64::from(ns);
    }
}

/// A picture with structure in both directions (no two neighbours alike).
fn picture() -> Vec<u8> {
    (0..WIDTH * HEIGHT)
        .map(|i| ((i % WIDTH) * 7 + (i / WIDTH) * 13 + i / 97) as u8)
        .collect()
}

/// An initialised simulation (5 fps table) showing `pic`.
fn ready(pic: &[u8], timing: Timing, fault: Fault) -> SimOv7675 {
    let mut sim = SimOv7675::new(pic).with_timing(timing).with_fault(fault);
    let mut cam = Ov767x::new(&mut sim, Sensor::Ov7675);
    cam.init(FrameRate::Fps5, &mut Delay::default())
        .expect("init on a healthy simulation");
    sim
}

/// Captures and returns the result and the ticks it took.
fn capture(sim: &mut SimOv7675) -> (Result<Vec<u8>, Error>, u64) {
    let limits = sim.limits();
    let before = sim.ticks();
    let mut y = Box::new([0u8; WIDTH * HEIGHT]);
    let r = capture_y(sim, &mut y, &limits).map(|()| y.to_vec());
    (r, sim.ticks() - before)
}

/// The most ticks a capture may take with these limits: VSYNC rise and fall, then per
/// line the HREF wait, 320 bytes of two PCLK waits and a data read, the HREF-low wait,
/// and the look for a 121st line.
fn bound(sim: &SimOv7675) -> u64 {
    let l = sim.limits();
    let per_line = u64::from(l.line) + 320 * (2 * u64::from(l.pclk) + 1) + u64::from(l.pclk);
    2 * u64::from(l.frame) + 120 * per_line + u64::from(l.line)
}

/// The register writes of `Ov767x::init` at 5 fps, in order: the soft reset, then
/// `tables::QQVGA_YUV422`, then CLKRC. Written out by hand from the table (see the
/// sources there): a change to the table must change this list too.
const GOLDEN_5FPS: &[(u8, u8)] = &[
    (0x12, 0x80), // COM7: reset
    (0x6B, 0x0A), // DBLV: PLL bypass
    (0x12, 0x00), // COM7: YUV
    (0x0C, 0x04), // COM3: DCW enable
    (0x3E, 0x1A), // COM14: scaling PCLK, manual scaling, PCLK / 4
    (0x70, 0x3A), // SCALING_XSC
    (0x71, 0x35), // SCALING_YSC
    (0x72, 0x22), // SCALING_DCWCTR: downsample by 4 both ways
    (0x73, 0xF2), // SCALING_PCLK_DIV: / 4
    (0xA2, 0x02), // SCALING_PCLK_DELAY
    (0x17, 0x16), // HSTART
    (0x18, 0x04), // HSTOP
    (0x32, 0xA4), // HREF
    (0x19, 0x02), // VSTRT
    (0x1A, 0x7A), // VSTOP
    (0x03, 0x0A), // VREF
    (0x3A, 0x04), // TSLB: Y U Y V
    (0x3D, 0x88), // COM13: Y U Y V, gamma
    (0x40, 0xC0), // COM15: full range
    (0x15, 0x20), // COM10: PCLK gated in horizontal blanking
    (0x11, 0x01), // CLKRC: 5 fps at XCLK 16 MHz
];

#[test]
fn init_writes_the_documented_sequence_and_it_reads_back() {
    let mut sim = SimOv7675::new(&picture());
    let mut delay = Delay::default();
    let mut cam = Ov767x::new(&mut sim, Sensor::Ov7675);
    let id = cam.init(FrameRate::Fps5, &mut delay).unwrap();
    assert_eq!((id.pid, id.ver, id.midh, id.midl), (0x76, 0x73, 0x7F, 0xA2));
    assert_eq!(sim.writes(), GOLDEN_5FPS);
    assert!(
        delay.ns >= 1_000_000,
        "waited {} ns after the reset",
        delay.ns
    );
    assert!(sim.qqvga_yuv());
    assert!(sim.pclk_gated());
    assert_eq!(sim.byte_order(), ov767x::ByteOrder::Yuyv);
}

#[test]
fn one_fps_differs_only_in_clkrc() {
    let mut sim = SimOv7675::new(&[]);
    Ov767x::new(&mut sim, Sensor::Ov7670)
        .init(FrameRate::Fps1, &mut Delay::default())
        .unwrap();
    let (last, rest) = sim.writes().split_last().unwrap();
    assert_eq!(*last, (regs::CLKRC, 0x09));
    assert_eq!(rest, &GOLDEN_5FPS[..GOLDEN_5FPS.len() - 1]);
}

#[test]
fn every_table_value_names_its_source() {
    for w in ov767x::init_writes(FrameRate::Fps1).chain(ov767x::init_writes(FrameRate::Fps5)) {
        assert!(w.source.len() > 20, "{:#04x}: {:?}", w.reg, w.source);
        assert!(w.reg <= regs::LAST);
    }
}

#[test]
fn soft_reset_restores_the_defaults() {
    let mut sim = ready(&picture(), Timing::default(), Fault::None);
    assert_eq!(sim.reg(regs::COM10), 0x20);
    Ov767x::new(&mut sim, Sensor::Ov7675)
        .reset(&mut Delay::default())
        .unwrap();
    assert_eq!(sim.reg(regs::COM10), 0x00);
    assert_eq!(sim.reg(regs::COM7), 0x00);
    assert_eq!(sim.reg(regs::TSLB), 0x0D);
    assert!(!sim.qqvga_yuv());
}

#[test]
fn capture_returns_the_y_plane_byte_for_byte() {
    let pic = picture();
    let mut sim = ready(&pic, Timing::default(), Fault::None);
    let (y, ticks) = capture(&mut sim);
    assert_eq!(y.unwrap(), pic);
    assert!(ticks <= bound(&sim));
    // And the next frame too, after a picture change.
    let other: Vec<u8> = pic.iter().map(|p| p.wrapping_mul(3)).collect();
    sim.set_picture(&other);
    assert_eq!(capture(&mut sim).0.unwrap(), other);
}

/// A configured sensor showing `picture()` (returned too), then register `reg` set to
/// `value` behind the driver's back.
fn ready_then(reg: u8, value: u8) -> (Vec<u8>, SimOv7675) {
    let pic = picture();
    let mut sim = ready(&pic, Timing::default(), Fault::None);
    Ov767x::new(&mut sim, Sensor::Ov7675)
        .write(reg, value)
        .unwrap();
    (pic, sim)
}

#[test]
fn capture_with_pclk_running_in_blanking() {
    let (pic, mut sim) = ready_then(regs::COM10, 0x00);
    assert!(!sim.pclk_gated());
    assert_eq!(capture(&mut sim).0.unwrap(), pic);
}

#[test]
fn another_byte_order_is_not_the_y_plane() {
    // The oracle really follows TSLB: with U Y V Y the even bytes are chroma.
    let (pic, mut sim) = ready_then(regs::TSLB, 0x0C);
    assert_eq!(sim.byte_order(), ov767x::ByteOrder::Uyvy);
    assert_ne!(capture(&mut sim).0.unwrap(), pic);
}

#[test]
fn the_colour_bar_is_eight_vertical_bars_from_white_to_black() {
    // Coarse: the luma values themselves are undocumented.
    let (_, mut sim) = ready_then(regs::SCALING_YSC, 0x35 | regs::SCALING_YSC_COLOR_BAR);
    let y = capture(&mut sim).0.unwrap();
    let row = &y[..WIDTH];
    assert!(y.chunks_exact(WIDTH).all(|r| r == row), "vertical bars");
    let mut bars = row.to_vec();
    bars.dedup();
    assert_eq!(bars.len(), 8);
    assert!(bars.windows(2).all(|w| w[0] > w[1]), "{bars:?}");
    assert!(bars[0] > 200 && bars[7] < 40, "{bars:?}");
    // Bit 7 clear again: the picture.
    Ov767x::new(&mut sim, Sensor::Ov7675)
        .write(regs::SCALING_YSC, 0x35)
        .unwrap();
    assert_eq!(capture(&mut sim).0.unwrap(), picture());
}

#[test]
fn capture_before_init_sees_vga_lines() {
    let mut sim = SimOv7675::new(&picture());
    let (r, ticks) = capture(&mut sim);
    assert_eq!(r, Err(Error::LongLine { line: 0 }));
    assert!(ticks <= bound(&sim));
}

#[test]
fn another_chip_is_refused() {
    let mut sim = SimOv7675::new(&[]).with_ids(0x77, 0x21);
    let r = Ov767x::new(&mut sim, Sensor::Ov7675).init(FrameRate::Fps5, &mut Delay::default());
    assert_eq!(
        r,
        Err(Error::WrongChip {
            pid: 0x77,
            ver: 0x21,
            midh: 0x7F,
            midl: 0xA2
        })
    );
    // Nothing was written to a chip that is not ours.
    assert!(sim.writes().is_empty());
}

#[test]
fn no_acknowledge_at_a_wrong_address() {
    let mut sim = SimOv7675::new(&[]).at_address(0x30);
    let r = Ov767x::new(&mut sim, Sensor::Ov7675).detect();
    assert_eq!(
        r,
        Err(Error::I2c(ErrorKind::NoAcknowledge(
            NoAcknowledgeSource::Address
        )))
    );
}

#[test]
fn no_acknowledge_for_a_bad_register_or_a_read_only_one() {
    let mut sim = SimOv7675::new(&[]);
    let mut cam = Ov767x::new(&mut sim, Sensor::Ov7675);
    let nack = Err(Error::I2c(ErrorKind::NoAcknowledge(
        NoAcknowledgeSource::Data,
    )));
    assert_eq!(cam.read(0xD0), nack);
    assert_eq!(cam.write(0xCA, 1), nack.map(|_: u8| ()));
    assert_eq!(cam.write(regs::PID, 1), nack.map(|_: u8| ()));
    assert_eq!(cam.read(regs::PID), Ok(0x76));
}

#[test]
fn repeated_start_is_refused_by_the_simulation() {
    use embedded_hal::i2c::I2c;
    let mut sim = SimOv7675::new(&[]);
    let mut v = [0u8];
    assert_eq!(
        sim.write_read(regs::ADDRESS, &[regs::PID], &mut v)
            .map_err(|e| embedded_hal::i2c::Error::kind(&e)),
        Err(ErrorKind::Bus)
    );
}

/// Each fault gives its error, within the bound of a capture.
fn faulty(fault: Fault, expected: Error) {
    let mut sim = ready(&picture(), Timing::default(), fault);
    let (r, ticks) = capture(&mut sim);
    assert_eq!(r, Err(expected), "{fault:?}");
    assert!(ticks <= bound(&sim), "{fault:?}: {ticks} ticks");
}

#[test]
fn no_vsync_is_no_frame() {
    faulty(Fault::NoVsync, Error::NoFrame);
}

#[test]
fn a_short_line() {
    faulty(
        Fault::ShortLine {
            line: 37,
            bytes: 200,
        },
        Error::ShortLine {
            line: 37,
            bytes: 200,
        },
    );
}

#[test]
fn a_long_line() {
    faulty(
        Fault::LongLine { line: 5, extra: 2 },
        Error::LongLine { line: 5 },
    );
}

#[test]
fn a_stuck_pclk() {
    faulty(
        Fault::PclkStuck {
            line: 60,
            byte: 101,
        },
        Error::PclkStuck {
            line: 60,
            byte: 101,
        },
    );
}

#[test]
fn too_few_and_too_many_lines() {
    faulty(Fault::MissingLine, Error::TooFewLines { lines: 119 });
    faulty(Fault::ExtraLine, Error::TooManyLines);
}

/// Captures through `capture_y_with` with a hook that checks it runs in the horizontal
/// blanking (HREF low) and then spends `spend` ticks of bus time; returns the result
/// and the hook's calls.
fn capture_with_hook(pic: &[u8], spend: u64) -> (Result<Vec<u8>, Error>, usize) {
    let cell = RefCell::new(ready(pic, Timing::default(), Fault::None));
    let limits = cell.borrow().limits();
    let mut y = Box::new([0u8; WIDTH * HEIGHT]);
    let mut calls = 0;
    let r = capture_y_with(&mut SimHandle(&cell), &mut y, &limits, || {
        calls += 1;
        let mut bus = SimHandle(&cell);
        assert!(!bus.levels().href, "hook call {calls} while HREF is high");
        for _ in 0..spend {
            bus.levels();
        }
    });
    (r.map(|()| y.to_vec()), calls)
}

/// Ticks of horizontal blanking with the default timing.
fn hblank_ticks() -> u64 {
    let t = Timing::default();
    u64::from(t.hblank) * u64::from(2 * t.half)
}

#[test]
fn the_hook_runs_once_per_line_in_the_blanking_and_the_frame_is_exact() {
    let pic = picture();
    let (y, calls) = capture_with_hook(&pic, 0);
    assert_eq!(y.unwrap(), pic);
    assert_eq!(calls, HEIGHT);
}

#[test]
fn a_hook_that_spends_most_of_the_blanking_leaves_the_frame_exact() {
    let pic = picture();
    let (y, calls) = capture_with_hook(&pic, hblank_ticks() * 9 / 10);
    assert_eq!(y.unwrap(), pic);
    assert_eq!(calls, HEIGHT);
}

#[test]
fn a_hook_longer_than_the_blanking_is_an_error_not_a_shifted_frame() {
    let pic = picture();
    // Into the next line, and past a whole line.
    for spend in [hblank_ticks() + 100, hblank_ticks() + 1568 * 4] {
        let (y, _) = capture_with_hook(&pic, spend);
        assert!(y.is_err(), "spent {spend}: {y:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any picture, any horizontal blanking, PCLK gated or running, any poll speed
    /// relative to PCLK and any phase at which the capture starts: the Y plane.
    #[test]
    fn capture_is_exact_for_any_picture_and_timing(
        seed in any::<u64>(),
        hblank in 2u32..600,
        half in 2u32..5,
        back_porch in 1u32..6,
        gated in any::<bool>(),
        phase in 0u64..1_000_000,
    ) {
        let mut x = seed | 1;
        let pic: Vec<u8> = (0..WIDTH * HEIGHT)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let timing = Timing { half, hblank, back_porch, start: phase, ..Timing::default() };
        let mut sim = ready(&pic, timing, Fault::None);
        if !gated {
            Ov767x::new(&mut sim, Sensor::Ov7675).write(regs::COM10, 0).unwrap();
        }
        let (y, ticks) = capture(&mut sim);
        prop_assert_eq!(y.unwrap(), pic);
        prop_assert!(ticks <= bound(&sim));
    }
}
