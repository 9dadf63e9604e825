//! A `no_std`, allocation-free driver for the OmniVision OV7675 and OV7670 cameras.
//!
//! - Configuration over SCCB with any [`embedded_hal::i2c::I2c`]: [`Ov767x::detect`]
//!   reads the product and manufacturer IDs and refuses another chip
//!   ([`Error::WrongChip`]); [`Ov767x::reset`] is the soft reset; [`Ov767x::init`]
//!   writes [`tables::QQVGA_YUV422`] and a [`FrameRate`] and reads every register back.
//!   SCCB reads are "write the register address, STOP, read" (two transactions, no
//!   repeated start).
//! - Capture: [`capture_y`] polls a [`ParallelBus`] (VSYNC, HREF and PCLK levels, the
//!   eight data lines as a byte) and keeps the Y bytes of the YUYV stream in a
//!   caller-owned 160x120 buffer. Every wait is bounded by a poll count from
//!   [`Limits`] and ends in a typed [`Error`], never a hang. [`capture_y_with`] also
//!   runs a caller's short function in each horizontal blanking (a USB poll, say).
//! - Wiring: [`Ov767x::check_wiring`] finds swapped, stuck or floating data lines
//!   with frames of known bytes ([`wiring`]); a [`Wiring`]'s [`Correction`] undoes a
//!   permutation in every captured frame.
//! - `sim` feature (std): `sim::SimOv7675`, a simulated OV7675 (register map over
//!   `I2c`, pixel timing driven by a picture), the oracle of the tests.
//!
//! The OV7670 and the OV7675 share the register map and the ID registers (PID 0x76,
//! VER 0x73 on both), so the IDs identify the family; which of the two is fitted is the
//! board's knowledge ([`Sensor`]).
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

#[cfg(feature = "std")]
extern crate std;

mod capture;
pub mod regs;
#[cfg(feature = "sim")]
pub mod sim;
pub mod tables;
pub mod wiring;

pub use capture::{Levels, Limits, ParallelBus, capture_y, capture_y_with};
pub use tables::{FrameRate, RegWrite};
pub use wiring::{Correction, Wiring, WiringReport};

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::{self, I2c};

/// Frame width in pixels (QQVGA).
pub const WIDTH: usize = 160;
/// Frame height in pixels (QQVGA).
pub const HEIGHT: usize = 120;
/// Bytes per YUV422 line (two per pixel).
pub const LINE_BYTES: usize = 2 * WIDTH;

/// Which member of the family is fitted (the ID registers cannot tell them apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Sensor {
    /// OV7670 (the common breakout modules).
    Ov7670,
    /// OV7675 (Arduino Tiny Machine Learning Kit).
    Ov7675,
}

/// The YUV422 byte order, from `TSLB[3]` and `COM13[0]` (datasheet, TSLB description).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ByteOrder {
    /// `TSLB[3]` = 0, `COM13[0]` = 0: Y0 U0 Y1 V0 (what [`tables::QQVGA_YUV422`] selects).
    Yuyv,
    /// `TSLB[3]` = 0, `COM13[0]` = 1: Y0 V0 Y1 U0.
    Yvyu,
    /// `TSLB[3]` = 1, `COM13[0]` = 0: U0 Y0 V0 Y1.
    Uyvy,
    /// `TSLB[3]` = 1, `COM13[0]` = 1: V0 Y0 U0 Y1.
    Vyuy,
}

impl ByteOrder {
    /// The order the two registers select.
    pub const fn from_regs(tslb: u8, com13: u8) -> Self {
        match (tslb & regs::TSLB_SEQ != 0, com13 & regs::COM13_UVSWAP != 0) {
            (false, false) => Self::Yuyv,
            (false, true) => Self::Yvyu,
            (true, false) => Self::Uyvy,
            (true, true) => Self::Vyuy,
        }
    }
}

/// Everything that can go wrong, configuring or capturing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The I2C (SCCB) bus failed, for example no acknowledge.
    I2c(i2c::ErrorKind),
    /// The chip at the address is not an OV7670/OV7675.
    WrongChip {
        /// PID read (0x76 expected).
        pid: u8,
        /// VER read (0x73 expected).
        ver: u8,
        /// MIDH read (0x7F expected).
        midh: u8,
        /// MIDL read (0xA2 expected).
        midl: u8,
    },
    /// A register did not read back what was written.
    Verify {
        /// Register.
        reg: u8,
        /// Value written.
        wrote: u8,
        /// Value read back.
        read: u8,
    },
    /// No VSYNC pulse began within the frame limit (no frame).
    NoFrame,
    /// VSYNC stayed high past the limit.
    VsyncStuck,
    /// HREF did not rise for `line` within the line limit.
    NoLine {
        /// The line that never began (0-based).
        line: u16,
    },
    /// A new frame (VSYNC) began after only `lines` lines.
    TooFewLines {
        /// Lines received.
        lines: u16,
    },
    /// More than 120 lines: HREF rose again before the next VSYNC.
    TooManyLines,
    /// HREF fell after `bytes` bytes of `line` (a line is 320).
    ShortLine {
        /// The line (0-based).
        line: u16,
        /// Bytes received.
        bytes: u16,
    },
    /// HREF stayed high for more than 320 bytes of `line`.
    LongLine {
        /// The line (0-based).
        line: u16,
    },
    /// PCLK stopped toggling at byte `byte` of `line` while HREF was high.
    PclkStuck {
        /// The line (0-based).
        line: u16,
        /// The byte of the line (0-based).
        byte: u16,
    },
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::I2c(kind) => write!(f, "camera bus: {kind}"),
            Self::WrongChip {
                pid,
                ver,
                midh,
                midl,
            } => write!(
                f,
                "not an OV767x: PID {pid:#04x} VER {ver:#04x} MID {midh:#04x}{midl:02x}"
            ),
            Self::Verify { reg, wrote, read } => {
                write!(f, "register {reg:#04x} wrote {wrote:#04x} read {read:#04x}")
            }
            Self::NoFrame => f.write_str("no VSYNC (no frame)"),
            Self::VsyncStuck => f.write_str("VSYNC stuck high"),
            Self::NoLine { line } => write!(f, "no HREF for line {line}"),
            Self::TooFewLines { lines } => write!(f, "frame ended after {lines} lines"),
            Self::TooManyLines => f.write_str("more than 120 lines"),
            Self::ShortLine { line, bytes } => write!(f, "line {line} ended after {bytes} bytes"),
            Self::LongLine { line } => write!(f, "line {line} longer than 320 bytes"),
            Self::PclkStuck { line, byte } => write!(f, "PCLK stuck at line {line} byte {byte}"),
        }
    }
}

impl core::error::Error for Error {}

#[cfg(feature = "defmt")]
impl defmt::Format for Error {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{}", defmt::Display2Format(self));
    }
}

/// What [`Ov767x::detect`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ChipId {
    /// PID (0x0A).
    pub pid: u8,
    /// VER (0x0B).
    pub ver: u8,
    /// MIDH (0x1C).
    pub midh: u8,
    /// MIDL (0x1D).
    pub midl: u8,
}

/// Milliseconds to wait after the soft reset before the next SCCB access (datasheet:
/// the registers take up to 1 ms to reset; twice that as margin).
pub const RESET_MS: u32 = 2;

/// The configuration side of an OV7670/OV7675 on an SCCB (I2C) bus.
#[derive(Debug)]
pub struct Ov767x<I> {
    i2c: I,
    sensor: Sensor,
}

impl<I: I2c> Ov767x<I> {
    /// The sensor on `i2c` at [`regs::ADDRESS`]; nothing is sent yet.
    pub fn new(i2c: I, sensor: Sensor) -> Self {
        Self { i2c, sensor }
    }

    /// The fitted sensor, as given to [`new`](Self::new).
    pub fn sensor(&self) -> Sensor {
        self.sensor
    }

    /// Gives the bus back.
    pub fn release(self) -> I {
        self.i2c
    }

    /// Reads one register: write its address, STOP, read one byte (SCCB has no
    /// repeated start).
    pub fn read(&mut self, reg: u8) -> Result<u8, Error> {
        let mut value = [0u8];
        self.i2c.write(regs::ADDRESS, &[reg]).map_err(kind)?;
        self.i2c.read(regs::ADDRESS, &mut value).map_err(kind)?;
        Ok(value[0])
    }

    /// Writes one register (a three-phase SCCB write).
    pub fn write(&mut self, reg: u8, value: u8) -> Result<(), Error> {
        self.i2c.write(regs::ADDRESS, &[reg, value]).map_err(kind)
    }

    /// Reads PID, VER, MIDH and MIDL; [`Error::WrongChip`] unless they are the
    /// OV767x's (0x76, 0x73, 0x7F, 0xA2).
    pub fn detect(&mut self) -> Result<ChipId, Error> {
        let id = ChipId {
            pid: self.read(regs::PID)?,
            ver: self.read(regs::VER)?,
            midh: self.read(regs::MIDH)?,
            midl: self.read(regs::MIDL)?,
        };
        let ok = id.pid == regs::PID_OV767X
            && id.ver == regs::VER_OV767X
            && id.midh == regs::MIDH_OMNIVISION
            && id.midl == regs::MIDL_OMNIVISION;
        if ok {
            Ok(id)
        } else {
            Err(Error::WrongChip {
                pid: id.pid,
                ver: id.ver,
                midh: id.midh,
                midl: id.midl,
            })
        }
    }

    /// Soft reset (`COM7[7]`), then waits [`RESET_MS`].
    pub fn reset(&mut self, delay: &mut impl DelayNs) -> Result<(), Error> {
        self.write(regs::COM7, regs::COM7_RESET)?;
        delay.delay_ms(RESET_MS);
        Ok(())
    }

    /// The whole bring-up: [`detect`](Self::detect), [`reset`](Self::reset), the
    /// writes of [`init_writes`] for `rate`, then every written register read back
    /// ([`Error::Verify`] on a difference).
    pub fn init(&mut self, rate: FrameRate, delay: &mut impl DelayNs) -> Result<ChipId, Error> {
        let id = self.detect()?;
        self.reset(delay)?;
        for RegWrite { reg, value, .. } in init_writes(rate) {
            self.write(reg, value)?;
        }
        for RegWrite { reg, value, .. } in init_writes(rate) {
            let read = self.read(reg)?;
            if read != value {
                return Err(Error::Verify {
                    reg,
                    wrote: value,
                    read,
                });
            }
        }
        Ok(id)
    }
}

/// The register writes of [`Ov767x::init`] after the reset, in order: the QQVGA
/// YUV422 table, then the frame rate's CLKRC.
pub fn init_writes(rate: FrameRate) -> impl Iterator<Item = RegWrite> + Clone {
    tables::QQVGA_YUV422
        .iter()
        .copied()
        .chain(core::iter::once(rate.clkrc()))
}

fn kind<E: i2c::Error>(e: E) -> Error {
    Error::I2c(e.kind())
}
