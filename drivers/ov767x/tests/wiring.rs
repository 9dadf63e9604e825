//! The wiring self-test against the simulated OV7675 with faults of the board's data
//! lines (`sim::BusFault`) and of the sensor (`sim::Fault::IgnoresFixedUv`): each
//! fault named, a good board ok, nothing but "inconclusive" for bytes no wiring
//! explains, the registers restored, and a corrected frame equal to the picture.

use std::cell::RefCell;

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::{ErrorType, I2c, Operation};
use ov767x::sim::{BusFault, Fault, SimHandle, SimOv7675, Timing};
use ov767x::wiring::TEST_FRAMES;
use ov767x::{
    ByteOrder, Error, FrameRate, HEIGHT, Ov767x, Sensor, WIDTH, Wiring, WiringReport, capture_y,
    regs,
};
use proptest::prelude::*;

struct NoDelay;

impl DelayNs for NoDelay {
    fn delay_ns(&mut self, _ns: u32) {}
}

/// A picture with structure in both directions.
fn picture() -> Vec<u8> {
    (0..WIDTH * HEIGHT)
        .map(|i| ((i % WIDTH) * 7 + (i / WIDTH) * 13 + i / 97) as u8)
        .collect()
}

/// Short horizontal blanking: six frames a test stay quick.
fn quick() -> Timing {
    Timing {
        hblank: 8,
        start: 4321,
        ..Timing::default()
    }
}

/// An initialised simulation (5 fps table) showing `picture()`.
fn board(sensor: Fault, bus: BusFault) -> SimOv7675 {
    let mut sim = SimOv7675::new(&picture())
        .with_timing(quick())
        .with_fault(sensor)
        .with_bus_fault(bus);
    Ov767x::new(&mut sim, Sensor::Ov7675)
        .init(FrameRate::Fps5, &mut NoDelay)
        .expect("init: the bus faults are on the data lines, not SCCB");
    sim
}

/// Runs the self-test over `sim` (returned again for inspection).
fn check(sim: SimOv7675) -> (Result<WiringReport, Error>, SimOv7675) {
    let cell = RefCell::new(sim);
    let limits = cell.borrow().limits();
    let mut y = Box::new([0u8; WIDTH * HEIGHT]);
    let r = Ov767x::new(SimHandle(&cell), Sensor::Ov7675).check_wiring(
        &mut SimHandle(&cell),
        &limits,
        &mut y,
    );
    (r, cell.into_inner())
}

/// The report for a board with `bus`, its printed line, and the registers checked.
fn report(bus: BusFault) -> WiringReport {
    let (r, sim) = check(board(Fault::None, bus));
    let r = r.unwrap_or_else(|e| panic!("{bus:?}: {e}"));
    assert_restored(&sim);
    r
}

/// TSLB, MANU and MANV hold the values `init` left (the datasheet's MANU/MANV
/// defaults, the table's TSLB), and the test did write them.
fn assert_restored(sim: &SimOv7675) {
    assert_eq!(sim.reg(regs::TSLB), 0x04);
    assert_eq!(sim.reg(regs::MANU), 0x80);
    assert_eq!(sim.reg(regs::MANV), 0x80);
    for reg in [regs::TSLB, regs::MANU, regs::MANV] {
        let last = sim.writes().iter().rev().find(|w| w.0 == reg);
        assert_eq!(last, Some(&(reg, sim.reg(reg))), "{reg:#04x} written back");
        assert!(
            sim.writes().iter().filter(|w| w.0 == reg).count() >= 2,
            "{reg:#04x} touched"
        );
    }
}

#[test]
fn a_good_board_is_ok() {
    let r = report(BusFault::None);
    assert_eq!(r, WiringReport::Ok);
    assert_eq!(r.to_string(), "camera wiring: ok");
    assert!(r.wiring().is_identity());
}

#[test]
fn every_pair_swap_is_named_and_corrected() {
    for a in 0..8u8 {
        for b in a + 1..8 {
            let r = report(BusFault::swap(a, b));
            assert_eq!(r, WiringReport::Corrected(Wiring::swapped(a, b).unwrap()));
            assert_eq!(
                r.to_string(),
                format!("camera wiring: D{a}/D{b} swapped, corrected")
            );
        }
    }
}

#[test]
fn the_kits_d0_d1_swap_reads_as_documented() {
    assert_eq!(
        report(BusFault::swap(1, 0)).to_string(),
        "camera wiring: D0/D1 swapped, corrected"
    );
}

#[test]
fn a_general_permutation_is_found_and_corrected() {
    let lines = [2, 0, 1, 3, 7, 5, 4, 6];
    let r = report(BusFault::Permuted { lines });
    assert_eq!(r.wiring().lines(), lines);
    assert_eq!(
        r.to_string(),
        "camera wiring: lines permuted (bits 0-7 carry D2 D0 D1 D3 D7 D5 D4 D6), corrected"
    );
}

/// `bus` gives `expected`, which prints `D<line> <what> — check the shield's
/// connector` and corrects nothing.
fn assert_line_fault(bus: BusFault, expected: WiringReport, line: u8, what: &str) {
    let r = report(bus);
    assert_eq!(r, expected);
    assert_eq!(
        r.to_string(),
        format!("camera wiring: D{line} {what} — check the shield's connector")
    );
    assert!(r.wiring().is_identity());
}

#[test]
fn each_line_stuck_high_or_low_is_named() {
    for line in 0..8u8 {
        let (high, low) = (BusFault::StuckHigh { line }, BusFault::StuckLow { line });
        assert_line_fault(high, WiringReport::StuckHigh { line }, line, "stuck high");
        assert_line_fault(low, WiringReport::StuckLow { line }, line, "stuck low");
    }
}

#[test]
fn each_floating_line_is_named() {
    for line in 0..8u8 {
        let bus = BusFault::Floating { line };
        assert_line_fault(bus, WiringReport::Floating { line }, line, "floating");
    }
}

#[test]
fn a_sensor_that_ignores_tslb4_is_inconclusive_not_a_fault() {
    // The picture's chroma comes back; and a flat grey picture (constant chroma, bits
    // that look stuck) is no alarm either.
    for pic in [
        picture(),
        vec![0x80; WIDTH * HEIGHT],
        vec![0; WIDTH * HEIGHT],
    ] {
        let mut sim = board(Fault::IgnoresFixedUv, BusFault::None);
        sim.set_picture(&pic);
        let (r, sim) = check(sim);
        let r = r.unwrap();
        assert_eq!(r, WiringReport::Inconclusive);
        assert_eq!(r.to_string(), "camera wiring: self-test inconclusive");
        assert!(r.wiring().is_identity());
        assert_restored(&sim);
    }
}

#[test]
fn two_faults_are_inconclusive() {
    // A board reading two bits from the same sensor line.
    let r = report(BusFault::Permuted {
        lines: [0, 0, 2, 3, 4, 5, 6, 7],
    });
    assert_eq!(r, WiringReport::Inconclusive);
}

#[test]
fn the_uv_swap_bit_is_followed() {
    // COM13[0] = 1: the test frames are V Y U Y; the answer is the same.
    for (bus, expected) in [
        (BusFault::None, WiringReport::Ok),
        (
            BusFault::swap(0, 1),
            WiringReport::Corrected(Wiring::swapped(0, 1).unwrap()),
        ),
    ] {
        let mut sim = board(Fault::None, bus);
        Ov767x::new(&mut sim, Sensor::Ov7675)
            .write(regs::COM13, 0x89)
            .unwrap();
        let (r, sim) = check(sim);
        assert_eq!(r.unwrap(), expected);
        assert_eq!(sim.reg(regs::COM13), 0x89);
        assert_eq!(sim.byte_order(), ByteOrder::Yvyu);
    }
}

#[test]
fn registers_are_restored_after_a_capture_error() {
    let (r, sim) = check(board(Fault::NoVsync, BusFault::None));
    assert_eq!(r, Err(Error::NoFrame));
    assert_restored(&sim);
}

/// The simulation's SCCB side, except that register `reg` keeps bit 0 of every value
/// inverted (a register that does not read back what was written).
struct Stubborn<'a> {
    sim: SimHandle<'a>,
    reg: u8,
}

impl ErrorType for Stubborn<'_> {
    type Error = ov767x::sim::SimI2cError;
}

impl I2c for Stubborn<'_> {
    fn transaction(&mut self, address: u8, ops: &mut [Operation<'_>]) -> Result<(), Self::Error> {
        for op in ops.iter_mut() {
            if let Operation::Write(bytes) = op
                && let [reg, value] = **bytes
                && reg == self.reg
            {
                return self.sim.write(address, &[reg, value ^ 1]);
            }
        }
        self.sim.transaction(address, ops)
    }
}

#[test]
fn a_register_that_does_not_read_back_is_an_error_and_the_others_are_restored() {
    let cell = RefCell::new(board(Fault::None, BusFault::None));
    let limits = cell.borrow().limits();
    let mut y = Box::new([0u8; WIDTH * HEIGHT]);
    let stubborn = Stubborn {
        sim: SimHandle(&cell),
        reg: regs::MANV,
    };
    let r =
        Ov767x::new(stubborn, Sensor::Ov7675).check_wiring(&mut SimHandle(&cell), &limits, &mut y);
    // The first test value, 0x55, reads 0x54: the test stops there.
    assert_eq!(
        r,
        Err(Error::Verify {
            reg: regs::MANV,
            wrote: 0x55,
            read: 0x54
        })
    );
    let sim = cell.into_inner();
    assert_eq!(sim.reg(regs::TSLB), 0x04);
    assert_eq!(sim.reg(regs::MANU), 0x80);
    // Written back as read (0x80), which the register turns into 0x81.
    assert_eq!(sim.writes().last(), Some(&(regs::MANV, 0x81)));
}

#[test]
fn the_test_captures_its_frames_with_the_callers_capture() {
    let cell = RefCell::new(board(Fault::None, BusFault::swap(0, 1)));
    let limits = cell.borrow().limits();
    let mut y = Box::new([0u8; WIDTH * HEIGHT]);
    let mut frames = 0;
    let r = Ov767x::new(SimHandle(&cell), Sensor::Ov7675).check_wiring_with(&mut y, |y| {
        frames += 1;
        capture_y(&mut SimHandle(&cell), y, &limits)
    });
    assert_eq!(r.unwrap().wiring(), Wiring::swapped(0, 1).unwrap());
    assert_eq!(frames, TEST_FRAMES);
}

#[test]
fn a_corrected_capture_is_the_picture() {
    let pic = picture();
    let (r, mut sim) = check(board(Fault::None, BusFault::swap(0, 1)));
    let correction = r.unwrap().wiring().correction();
    let limits = sim.limits();
    let mut y = Box::new([0u8; WIDTH * HEIGHT]);
    capture_y(&mut sim, &mut y, &limits).unwrap();
    assert_ne!(&y[..], &pic[..], "the swap changes the captured bytes");
    correction.apply(&mut y[..]);
    assert_eq!(&y[..], &pic[..]);
}

#[test]
fn fixed_uv_lands_where_the_byte_order_says() {
    // The simulation's TSLB[4]: with U Y V Y the kept bytes are MANU, MANV, MANU, …;
    // with V Y U Y the other way round; with Y U Y V they stay the picture.
    let pic = picture();
    for (tslb, com13, first, second) in [
        (0x1C, 0x88, 0x21, 0x43),
        (0x1C, 0x89, 0x43, 0x21),
        (0x14, 0x88, 0, 0),
    ] {
        let mut sim = board(Fault::None, BusFault::None);
        let mut cam = Ov767x::new(&mut sim, Sensor::Ov7675);
        for (reg, value) in [
            (regs::TSLB, tslb),
            (regs::COM13, com13),
            (regs::MANU, 0x21),
            (regs::MANV, 0x43),
        ] {
            cam.write(reg, value).unwrap();
        }
        let limits = sim.limits();
        let mut y = Box::new([0u8; WIDTH * HEIGHT]);
        capture_y(&mut sim, &mut y, &limits).unwrap();
        if first == 0 {
            assert_eq!(&y[..], &pic[..]);
        } else {
            assert!(y.chunks_exact(2).all(|p| p == [first, second]), "{tslb:#x}");
        }
    }
}

#[test]
fn the_frame_after_the_test_is_the_picture_again() {
    let pic = picture();
    let (r, mut sim) = check(board(Fault::None, BusFault::None));
    assert_eq!(r.unwrap(), WiringReport::Ok);
    let limits = sim.limits();
    let mut y = Box::new([0u8; WIDTH * HEIGHT]);
    capture_y(&mut sim, &mut y, &limits).unwrap();
    assert_eq!(&y[..], &pic[..]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Any permutation of the lines is found, and its correction gives back the picture.
    #[test]
    fn any_permutation_is_found_and_undone(lines in Just([0u8, 1, 2, 3, 4, 5, 6, 7]).prop_shuffle()) {
        let pic = picture();
        let (r, mut sim) = check(board(Fault::None, BusFault::Permuted { lines }));
        let r = r.unwrap();
        prop_assert_eq!(r.wiring().lines(), lines);
        let limits = sim.limits();
        let mut y = Box::new([0u8; WIDTH * HEIGHT]);
        capture_y(&mut sim, &mut y, &limits).unwrap();
        r.wiring().correction().apply(&mut y[..]);
        prop_assert_eq!(&y[..], &pic[..]);
    }

    /// A sensor that ignores TSLB[4], whatever it sees (random pictures, flat ones),
    /// never gives a named fault.
    #[test]
    fn image_chroma_is_never_a_fault(seed in any::<u64>(), flat in any::<bool>()) {
        let mut x = seed | 1;
        let pic: Vec<u8> = (0..WIDTH * HEIGHT)
            .map(|_| {
                if !flat {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                }
                (x >> 24) as u8
            })
            .collect();
        let mut sim = board(Fault::IgnoresFixedUv, BusFault::None);
        sim.set_picture(&pic);
        let (r, _) = check(sim);
        prop_assert_eq!(r.unwrap(), WiringReport::Inconclusive);
    }
}
