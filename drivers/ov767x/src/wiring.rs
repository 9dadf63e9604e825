//! The wiring self-test of the eight data lines, and the correction of a permuted bus.
//!
//! Some Tiny ML Kit shields swap the two lowest data lines (D0/D1) against what
//! Arduino_OV767X reads; a swap moves each byte by at most ±1, so no picture shows it.
//! [`Ov767x::check_wiring`] puts known bytes on the bus and reads them through the
//! frames' own capture path:
//!
//! - `TSLB[4]` = 1: every U and V byte of YUV422 becomes the fixed value of `MANU` /
//!   `MANV` (OV7670 datasheet v1.4, table 8-2: `TSLB[4]` "Use fixed UV value set in
//!   registers MANU and MANV as UV output instead of chip output"; `MANU` 0x67 and
//!   `MANV` 0x68 "effective only when register TSLB\[4\] is high").
//! - `TSLB[3]` = 1: the order U Y V Y (V Y U Y when `COM13[0]` = 1), so the bytes
//!   [`capture_y`] keeps (the even ones) are the U and V bytes: kept pixel 0 of each
//!   pair is the first chroma byte, pixel 1 the second.
//! - Three frames with (MANU, MANV) = [`PATTERNS`]: bit `j` of the six bytes is a
//!   6-bit signature unique to sensor line `Dj` (each pair is complementary, so no line
//!   has all zeros or all ones). What each bit of the captured bytes shows names the line
//!   wired to it, or the fault: the same level in all six bytes is a stuck line, a level
//!   that changes within a frame a floating one.
//!
//! Anything the wiring model does not explain (the sensor ignores `TSLB[4]` and image
//! chroma comes back, a byte value altered by the sensor, two faults) is
//! [`WiringReport::Inconclusive`]: never a false alarm. `TSLB`, `MANU` and `MANV` are
//! read first and written back (and read back) at the end, also after an error.
//!
//! What is verified only against the simulation (`sim`): how a real sensor honours
//! `TSLB[4]`, `MANU` and `MANV` (whether output clipping changes the values), and when a
//! register change takes effect (one frame is dropped after each, [`SETTLE_FRAMES`]).

use core::fmt;

use embedded_hal::i2c::I2c;

use crate::{ByteOrder, Error, HEIGHT, Limits, Ov767x, ParallelBus, WIDTH, capture_y, regs};

/// Data lines on the bus.
pub const LINES: usize = 8;

/// (MANU, MANV) of the three test frames: bit `j` of the six bytes is line `Dj`'s
/// signature (`j` in binary, each bit followed by its complement).
pub const PATTERNS: [(u8, u8); 3] = [(0xAA, 0x55), (0xCC, 0x33), (0xF0, 0x0F)];

/// Frames captured and dropped after each register change, before the test frame (the
/// datasheet does not say when a change to `MANU`/`MANV` reaches the output).
pub const SETTLE_FRAMES: usize = 1;

/// Frames [`Ov767x::check_wiring`] captures: a settling and a test frame per pattern.
pub const TEST_FRAMES: usize = PATTERNS.len() * (SETTLE_FRAMES + 1);

/// How the sensor's data lines reach the bits the board reads: bit `i` of a captured
/// byte carries sensor line `D(lines()[i])`. Always a permutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Wiring {
    from: [u8; LINES],
}

impl Default for Wiring {
    /// [`Wiring::IDENTITY`].
    fn default() -> Self {
        Self::IDENTITY
    }
}

impl Wiring {
    /// Bit `i` carries line `Di` (a correctly wired board).
    pub const IDENTITY: Self = Self {
        from: [0, 1, 2, 3, 4, 5, 6, 7],
    };

    /// Bit `i` carries line `D(from[i])`; `None` unless `from` is a permutation of 0..8.
    pub const fn from_lines(from: [u8; LINES]) -> Option<Self> {
        let mut seen = 0u16;
        let mut i = 0;
        while i < LINES {
            if from[i] as usize >= LINES {
                return None;
            }
            seen |= 1 << from[i];
            i += 1;
        }
        if seen == 0xFF {
            Some(Self { from })
        } else {
            None
        }
    }

    /// Lines `a` and `b` swapped, the others straight; `None` unless `a` and `b` are
    /// two different lines below 8.
    pub const fn swapped(a: u8, b: u8) -> Option<Self> {
        if a == b || a as usize >= LINES || b as usize >= LINES {
            return None;
        }
        let mut from = Self::IDENTITY.from;
        from[a as usize] = b;
        from[b as usize] = a;
        Some(Self { from })
    }

    /// The line each bit carries (bit `i` carries line `D(lines()[i])`).
    pub const fn lines(&self) -> [u8; LINES] {
        self.from
    }

    /// True for a correctly wired board.
    pub const fn is_identity(&self) -> bool {
        let mut i = 0;
        while i < LINES {
            if self.from[i] as usize != i {
                return false;
            }
            i += 1;
        }
        true
    }

    /// The two lines, lower first, when exactly two are swapped.
    pub const fn swap(&self) -> Option<(u8, u8)> {
        let mut moved = [0u8; 2];
        let mut n = 0;
        let mut i = 0;
        while i < LINES {
            if self.from[i] as usize != i {
                if n == 2 {
                    return None;
                }
                moved[n] = i as u8;
                n += 1;
            }
            i += 1;
        }
        // Two moved lines of a permutation are exchanged with each other.
        if n == 2 {
            Some((moved[0], moved[1]))
        } else {
            None
        }
    }

    /// The byte the sensor sent, given the byte the board captured.
    pub const fn true_byte(&self, captured: u8) -> u8 {
        let mut out = 0u8;
        let mut i = 0;
        while i < LINES {
            out |= ((captured >> i) & 1) << self.from[i];
            i += 1;
        }
        out
    }

    /// The lookup table that undoes this wiring.
    pub const fn correction(&self) -> Correction {
        let mut table = [0u8; 256];
        let mut b = 0;
        while b < 256 {
            table[b] = self.true_byte(b as u8);
            b += 1;
        }
        Correction {
            table,
            identity: self.is_identity(),
        }
    }
}

/// A [`Wiring`]'s undoing as a 256-byte table, built once: one load per byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correction {
    table: [u8; 256],
    identity: bool,
}

impl Default for Correction {
    /// The identity (nothing to correct).
    fn default() -> Self {
        Wiring::IDENTITY.correction()
    }
}

impl Correction {
    /// The true byte for a captured one.
    pub fn byte(&self, captured: u8) -> u8 {
        self.table[usize::from(captured)]
    }

    /// Corrects every byte of `captured` in place (a whole Y plane, say); does nothing
    /// for the identity.
    pub fn apply(&self, captured: &mut [u8]) {
        if self.identity {
            return;
        }
        for b in captured {
            *b = self.table[usize::from(*b)];
        }
    }

    /// True when [`apply`](Self::apply) changes nothing.
    pub fn is_identity(&self) -> bool {
        self.identity
    }
}

/// What the wiring self-test found. Its `Display` is the line the board prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WiringReport {
    /// Every line where it belongs: `camera wiring: ok`.
    Ok,
    /// The lines are permuted, which [`wiring`](Self::wiring) undoes:
    /// `camera wiring: D0/D1 swapped, corrected` for two lines, else
    /// `camera wiring: lines permuted (bits 0-7 carry D1 D2 D0 D3 D4 D5 D6 D7), corrected`.
    Corrected(Wiring),
    /// Bit `line` always reads 1: `camera wiring: D5 stuck high — check the shield's connector`.
    StuckHigh {
        /// The bit (the line the board reads as `D<line>`).
        line: u8,
    },
    /// Bit `line` always reads 0: `camera wiring: D5 stuck low — check the shield's connector`.
    StuckLow {
        /// The bit.
        line: u8,
    },
    /// Bit `line` changes while the sensor sends a constant:
    /// `camera wiring: D5 floating — check the shield's connector`.
    Floating {
        /// The bit.
        line: u8,
    },
    /// The bytes fit no wiring fault (for example the sensor ignores `TSLB[4]`):
    /// `camera wiring: self-test inconclusive`. Carry on with the standard wiring.
    Inconclusive,
}

impl WiringReport {
    /// The wiring to correct frames with: the permutation found, else the identity
    /// (also for a stuck or floating line, which no mapping repairs).
    pub fn wiring(&self) -> Wiring {
        match self {
            Self::Corrected(w) => *w,
            _ => Wiring::IDENTITY,
        }
    }
}

impl fmt::Display for WiringReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const CHECK: &str = "check the shield's connector";
        f.write_str("camera wiring: ")?;
        match self {
            Self::Ok => f.write_str("ok"),
            Self::Corrected(w) => match w.swap() {
                Some((a, b)) => write!(f, "D{a}/D{b} swapped, corrected"),
                None => {
                    f.write_str("lines permuted (bits 0-7 carry")?;
                    for l in w.lines() {
                        write!(f, " D{l}")?;
                    }
                    f.write_str("), corrected")
                }
            },
            Self::StuckHigh { line } => write!(f, "D{line} stuck high — {CHECK}"),
            Self::StuckLow { line } => write!(f, "D{line} stuck low — {CHECK}"),
            Self::Floating { line } => write!(f, "D{line} floating — {CHECK}"),
            Self::Inconclusive => f.write_str("self-test inconclusive"),
        }
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for WiringReport {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{}", defmt::Display2Format(self));
    }
}

/// Registers the self-test changes, read before and restored after.
const TOUCHED: [u8; 3] = [regs::TSLB, regs::MANU, regs::MANV];

impl<I: I2c> Ov767x<I> {
    /// The wiring self-test over `bus` with [`capture_y`] (into `y`, whose contents are
    /// lost), every wait bounded by `limits`: [`TEST_FRAMES`] frames (1.2 s at 5 fps).
    /// The sensor must be configured ([`init`](Self::init)). See [`check_wiring_with`]
    /// to capture another way (interrupts off, a hook between lines).
    ///
    /// [`check_wiring_with`]: Self::check_wiring_with
    pub fn check_wiring<B: ParallelBus>(
        &mut self,
        bus: &mut B,
        limits: &Limits,
        y: &mut [u8; WIDTH * HEIGHT],
    ) -> Result<WiringReport, Error> {
        self.check_wiring_with(y, |y| capture_y(bus, y, limits))
    }

    /// The wiring self-test with the caller's capture: `capture` must fill its buffer
    /// with one frame's kept (even) bytes, as [`capture_y`] or
    /// [`capture_y_with`](crate::capture_y_with) do; it runs [`TEST_FRAMES`] times.
    ///
    /// Reads `TSLB`, `MANU` and `MANV`, sets `TSLB[4]` and `TSLB[3]`, captures the
    /// [`PATTERNS`], then writes the three registers back and reads them back, also
    /// when a capture failed. `Err` for a bus or capture error (the first one) or a
    /// register that does not read back ([`Error::Verify`]); a wiring fault is an
    /// `Ok` report.
    pub fn check_wiring_with(
        &mut self,
        y: &mut [u8; WIDTH * HEIGHT],
        capture: impl FnMut(&mut [u8; WIDTH * HEIGHT]) -> Result<(), Error>,
    ) -> Result<WiringReport, Error> {
        let mut saved = [0u8; TOUCHED.len()];
        for (value, &reg) in saved.iter_mut().zip(&TOUCHED) {
            *value = self.read(reg)?;
        }
        let report = self.run_patterns(saved[0], y, capture);
        let mut restored = Ok(());
        for (&reg, &value) in TOUCHED.iter().zip(&saved) {
            let r = self.write_verified(reg, value);
            restored = restored.and(r);
        }
        let report = report?;
        restored.map(|()| report)
    }

    /// Writes a register and reads it back ([`Error::Verify`] on a difference).
    fn write_verified(&mut self, reg: u8, value: u8) -> Result<(), Error> {
        self.write(reg, value)?;
        let read = self.read(reg)?;
        if read == value {
            Ok(())
        } else {
            Err(Error::Verify {
                reg,
                wrote: value,
                read,
            })
        }
    }

    fn run_patterns(
        &mut self,
        tslb: u8,
        y: &mut [u8; WIDTH * HEIGHT],
        mut capture: impl FnMut(&mut [u8; WIDTH * HEIGHT]) -> Result<(), Error>,
    ) -> Result<WiringReport, Error> {
        let tslb = tslb | regs::TSLB_SEQ | regs::TSLB_FIXED_UV;
        let order = ByteOrder::from_regs(tslb, self.read(regs::COM13)?);
        self.write_verified(regs::TSLB, tslb)?;
        let mut tally = Tally::default();
        for (cells, &(u, v)) in tally.cells.iter_mut().zip(&PATTERNS) {
            self.write_verified(regs::MANU, u)?;
            self.write_verified(regs::MANV, v)?;
            for _ in 0..SETTLE_FRAMES {
                capture(y)?;
            }
            capture(y)?;
            // The kept bytes alternate first chroma, second chroma (U Y V Y or V Y U Y).
            let sent = match order {
                ByteOrder::Vyuy => [v, u],
                _ => [u, v],
            };
            for (cell, sent) in cells.iter_mut().zip(sent) {
                cell.sent = sent;
            }
            for pair in y.chunks_exact(2) {
                for (cell, &b) in cells.iter_mut().zip(pair) {
                    cell.add(b);
                }
            }
        }
        Ok(tally.decide())
    }
}

/// What the bytes of one position (first or second chroma byte) of one test frame
/// showed, bit by bit.
#[derive(Debug, Clone, Copy, Default)]
struct Cell {
    /// The byte the sensor sends there.
    sent: u8,
    /// Bytes seen.
    bytes: u16,
    /// For each bit, the bytes in which it read 1.
    ones: [u16; LINES],
}

impl Cell {
    fn add(&mut self, b: u8) {
        self.bytes += 1;
        for (i, n) in self.ones.iter_mut().enumerate() {
            *n += u16::from((b >> i) & 1);
        }
    }

    /// Bit `i`'s level if it was the same in every byte.
    fn level(&self, i: usize) -> Option<bool> {
        match self.ones[i] {
            0 => Some(false),
            n if n == self.bytes => Some(true),
            _ => None,
        }
    }
}

/// Two cells per test frame.
#[derive(Debug, Default)]
struct Tally {
    cells: [[Cell; 2]; PATTERNS.len()],
}

/// What one bit of the captured bytes showed across the six cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// The signature of sensor line `Dj`.
    Line(u8),
    /// 1 in every byte.
    High,
    /// 0 in every byte.
    Low,
    /// Different levels within a cell.
    Varies,
    /// Constant levels that match no line.
    Unexplained,
}

impl Tally {
    fn cells(&self) -> impl Iterator<Item = &Cell> {
        self.cells.iter().flatten()
    }

    /// Bit `i` of every cell's value as a 6-bit signature, or `None` if a cell varied.
    fn seen(&self, i: usize) -> Seen {
        let mut sig = 0u8;
        for (k, cell) in self.cells().enumerate() {
            match cell.level(i) {
                Some(bit) => sig |= u8::from(bit) << k,
                None => return Seen::Varies,
            }
        }
        let all = (1u8 << (2 * PATTERNS.len())) - 1;
        if let Some(j) = (0..LINES).find(|&j| self.signature(j) == sig) {
            Seen::Line(j as u8)
        } else if sig == all {
            Seen::High
        } else if sig == 0 {
            Seen::Low
        } else {
            Seen::Unexplained
        }
    }

    /// Sensor line `j`'s signature: bit `j` of each byte sent.
    fn signature(&self, j: usize) -> u8 {
        self.cells()
            .enumerate()
            .fold(0, |sig, (k, cell)| sig | ((cell.sent >> j) & 1) << k)
    }

    /// A permutation, one faulty bit among seven good ones, or inconclusive.
    fn decide(&self) -> WiringReport {
        let mut from = [0u8; LINES];
        let mut used = 0u16;
        let mut fault = None;
        for (i, slot) in from.iter_mut().enumerate() {
            let line = i as u8;
            let found = match self.seen(i) {
                Seen::Line(j) => {
                    if used & (1 << j) != 0 {
                        return WiringReport::Inconclusive;
                    }
                    used |= 1 << j;
                    *slot = j;
                    continue;
                }
                Seen::High => WiringReport::StuckHigh { line },
                Seen::Low => WiringReport::StuckLow { line },
                Seen::Varies => WiringReport::Floating { line },
                Seen::Unexplained => return WiringReport::Inconclusive,
            };
            if fault.replace(found).is_some() {
                // Two faulty bits: more likely a sensor that ignored the test.
                return WiringReport::Inconclusive;
            }
        }
        match (fault, Wiring::from_lines(from)) {
            (Some(f), _) => f,
            (None, Some(w)) if w.is_identity() => WiringReport::Ok,
            (None, Some(w)) => WiringReport::Corrected(w),
            (None, None) => WiringReport::Inconclusive,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_patterns_give_every_line_a_unique_signature_that_is_neither_stuck_level() {
        let mut tally = Tally::default();
        for (cells, (u, v)) in tally.cells.iter_mut().zip(PATTERNS) {
            cells[0].sent = u;
            cells[1].sent = v;
            // Complementary pairs inside the documented-safe range.
            assert_eq!(u, !v);
        }
        let sigs: [u8; LINES] = core::array::from_fn(|j| tally.signature(j));
        for (j, s) in sigs.iter().enumerate() {
            assert_ne!(*s, 0, "D{j}");
            assert_ne!(*s, 0x3F, "D{j}");
            assert_eq!(sigs.iter().filter(|t| *t == s).count(), 1, "D{j}");
        }
    }

    #[test]
    fn a_correction_undoes_its_wiring_for_every_byte() {
        let w = Wiring::from_lines([3, 0, 1, 2, 7, 5, 6, 4]).unwrap();
        let c = w.correction();
        for t in 0..=255u8 {
            // What the board reads: bit i is the sensor's line from[i].
            let captured = (0..8).fold(0u8, |b, i| b | ((t >> w.lines()[i]) & 1) << i);
            assert_eq!(c.byte(captured), t);
        }
        assert!(!c.is_identity());
        assert!(Correction::default().is_identity());
    }

    #[test]
    fn only_permutations_are_wirings() {
        assert_eq!(Wiring::from_lines([0, 0, 2, 3, 4, 5, 6, 7]), None);
        assert_eq!(Wiring::from_lines([8, 1, 2, 3, 4, 5, 6, 0]), None);
        assert_eq!(Wiring::swapped(2, 2), None);
        assert_eq!(Wiring::swapped(1, 8), None);
        assert_eq!(Wiring::swapped(1, 0).unwrap().swap(), Some((0, 1)));
        assert_eq!(
            Wiring::from_lines([1, 2, 0, 3, 4, 5, 6, 7]).unwrap().swap(),
            None
        );
        assert!(Wiring::default().is_identity());
    }
}
