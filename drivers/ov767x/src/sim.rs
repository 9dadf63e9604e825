//! A simulated OV7675, written from the datasheet: the oracle of the driver's tests
//! and of the host pipeline (feature `sim`).
//!
//! - Registers over [`embedded_hal::i2c::I2c`] at 7-bit address 0x21: the datasheet's
//!   defaults (PID 0x76, VER 0x73, MIDH 0x7F, MIDL 0xA2, …), `COM7[7]` resets them all,
//!   every writable register reads back; a wrong address is not acknowledged
//!   (`NoAcknowledge(Address)`), neither is a register past 0xC9 nor a write to a
//!   read-only one (`NoAcknowledge(Data)`). SCCB has no repeated start: a transaction
//!   that writes and then reads is refused (`Bus`).
//! - Pixel timing over [`ParallelBus`], driven by a 160x120 picture (its Y plane):
//!   a VSYNC pulse, vertical blanking, one HREF per line with 320 bytes in the byte
//!   order `TSLB[3]`/`COM13[0]` select, horizontal blanking with PCLK running or held low as
//!   `COM10[5]` says. Unless the registers select QQVGA YUV (COM7 YUV, COM3 DCW, the
//!   scaling values of the table) the lines are VGA-long (1280 bytes). Time advances by
//!   one tick at every bus call ([`ParallelBus::levels`] or [`ParallelBus::data`]).
//!   `TSLB[4]` replaces every U and V byte by `MANU` / `MANV` (datasheet table 8-2);
//!   `SCALING_YSC[7]` replaces the picture by the 8-bar colour bar (luma undocumented:
//!   the simulation's own ramp).
//! - [`Fault`]s of the sensor for the error paths: no VSYNC, a short or long line, one
//!   line too few or too many, PCLK stuck, `TSLB[4]` ignored.
//! - [`BusFault`]s of the board between the sensor and the port: data lines permuted,
//!   a line stuck high or low, a floating line.
//! - [`SimHandle`]: the simulation as `I2c` and `ParallelBus` at once (a shared
//!   `RefCell`), for code that holds both sides, such as the wiring self-test.

use std::cell::RefCell;
use std::vec::Vec;

use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation};

use crate::{ByteOrder, HEIGHT, LINE_BYTES, Levels, Limits, ParallelBus, WIDTH, regs};

/// Register defaults after power-up or `COM7[7]` (datasheet table 8-2; registers not
/// listed default to 0x00 here).
const DEFAULTS: &[(u8, u8)] = &[
    (0x00, 0x00), // GAIN
    (0x01, 0x80), // BLUE
    (0x02, 0x80), // RED
    (regs::VREF, 0x03),
    (regs::PID, regs::PID_OV767X),
    (regs::VER, regs::VER_OV767X),
    (regs::CLKRC, 0x80),
    (regs::COM7, 0x00),
    (0x13, 0x8F), // COM8
    (0x14, 0x4A), // COM9
    (regs::COM10, 0x00),
    (regs::HSTART, 0x11),
    (regs::HSTOP, 0x61),
    (regs::VSTRT, 0x03),
    (regs::VSTOP, 0x7B),
    (regs::MIDH, regs::MIDH_OMNIVISION),
    (regs::MIDL, regs::MIDL_OMNIVISION),
    (regs::HREF, 0x80),
    (regs::TSLB, 0x0D),
    (regs::COM13, 0x88),
    (regs::COM15, 0xC0),
    (regs::MANU, 0x80),
    (regs::MANV, 0x80),
    (regs::DBLV, 0x0A),
    (regs::SCALING_XSC, 0x3A),
    (regs::SCALING_YSC, 0x35),
    (regs::SCALING_DCWCTR, 0x11),
    (regs::SCALING_PCLK_DIV, 0x00),
    (regs::SCALING_PCLK_DELAY, 0x02),
];

/// Read-only registers (datasheet: "R").
const READ_ONLY: &[u8] = &[regs::PID, regs::VER, regs::MIDH, regs::MIDL];

/// An I2C error of the simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimI2cError(pub ErrorKind);

impl embedded_hal::i2c::Error for SimI2cError {
    fn kind(&self) -> ErrorKind {
        self.0
    }
}

/// Something wrong with the simulated sensor, for the error paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    /// A healthy sensor.
    #[default]
    None,
    /// VSYNC never rises.
    NoVsync,
    /// Line `line` carries only `bytes` bytes.
    ShortLine {
        /// The line.
        line: u16,
        /// Its bytes (less than 320).
        bytes: u16,
    },
    /// Line `line` carries `extra` bytes more than 320.
    LongLine {
        /// The line.
        line: u16,
        /// Extra bytes (at most the horizontal blanking).
        extra: u16,
    },
    /// 119 lines a frame.
    MissingLine,
    /// 121 lines a frame.
    ExtraLine,
    /// PCLK stops (HREF stays high) at byte `byte` of line `line`, forever.
    PclkStuck {
        /// The line.
        line: u16,
        /// The byte.
        byte: u16,
    },
    /// `TSLB[4]` has no effect: U and V stay the picture's chroma.
    IgnoresFixedUv,
}

/// Something wrong with the board's data lines between the sensor and the port (the
/// bus side of the simulation: the sensor and its registers are unaffected).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BusFault {
    /// Every line where it belongs.
    #[default]
    None,
    /// Bit `i` of the byte read is the sensor's line `D(lines[i])` (a permutation of
    /// 0..8; see [`BusFault::swap`]).
    Permuted {
        /// The sensor line each bit reads.
        lines: [u8; 8],
    },
    /// Bit `line` reads 1.
    StuckHigh {
        /// The bit.
        line: u8,
    },
    /// Bit `line` reads 0.
    StuckLow {
        /// The bit.
        line: u8,
    },
    /// Bit `line` reads a level that changes from read to read (a pseudo-random
    /// function of the time), whatever the sensor sends.
    Floating {
        /// The bit.
        line: u8,
    },
}

impl BusFault {
    /// Lines `a` and `b` exchanged (both below 8).
    pub fn swap(a: u8, b: u8) -> Self {
        let mut lines = [0, 1, 2, 3, 4, 5, 6, 7];
        lines.swap(usize::from(a), usize::from(b));
        Self::Permuted { lines }
    }

    /// The byte the port reads at tick `t` when the sensor drives `sent`.
    fn read(self, sent: u8, t: u64) -> u8 {
        let bit = |line: u8| 1u8 << (line & 7);
        match self {
            Self::None => sent,
            Self::Permuted { lines } => (0..8).fold(0, |b, i| {
                let level = (sent >> (lines[i] & 7)) & 1;
                b | level << i
            }),
            Self::StuckHigh { line } => sent | bit(line),
            Self::StuckLow { line } => sent & !bit(line),
            Self::Floating { line } => {
                // A multiplicative hash of the tick: its top bit changes often.
                let high = t.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 63 == 1;
                if high {
                    sent | bit(line)
                } else {
                    sent & !bit(line)
                }
            }
        }
    }
}

/// Frame timing of the simulation, in ticks (bus calls) and PCLK periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Ticks per PCLK half period (at least 2: the capture polls PCLK, reads the data,
    /// polls again).
    pub half: u32,
    /// PCLK periods of horizontal blanking after each line's bytes.
    pub hblank: u32,
    /// Line periods of the VSYNC pulse.
    pub vsync_lines: u32,
    /// Line periods between the end of VSYNC and line 0.
    pub back_porch: u32,
    /// Line periods after the last line, before the next VSYNC.
    pub front_porch: u32,
    /// The tick the simulation starts at (its phase in the frame).
    pub start: u64,
}

impl Default for Timing {
    /// QQVGA as the sensor times it: an output line every 4 sensor lines of 784 pixel
    /// times, so 1568 PCLK periods a line, 320 of them bytes; VSYNC 3 sensor lines
    /// (1 output line), back porch 17 (4), front porch 10 (3) (datasheet, VGA frame
    /// timing, divided by 4 and rounded). Two ticks per half period.
    fn default() -> Self {
        Self {
            half: 2,
            hblank: 1568 - LINE_BYTES as u32,
            vsync_lines: 1,
            back_porch: 4,
            front_porch: 3,
            start: 0,
        }
    }
}

/// The simulated OV7675.
#[derive(Debug, Clone)]
pub struct SimOv7675 {
    regs: [u8; regs::LAST as usize + 1],
    pointer: u8,
    address: u8,
    writes: Vec<(u8, u8)>,
    picture: Vec<u8>,
    timing: Timing,
    fault: Fault,
    bus_fault: BusFault,
    tick: u64,
    frozen: Option<Levels>,
}

impl SimOv7675 {
    /// A healthy OV7675 showing `picture` (160x120 Y values, row-major; shorter
    /// pictures are padded with 0, longer ones cut), with the [`Timing::default`].
    pub fn new(picture: &[u8]) -> Self {
        let mut pic = picture.to_vec();
        pic.resize(WIDTH * HEIGHT, 0);
        let mut sim = Self {
            regs: [0; regs::LAST as usize + 1],
            pointer: 0,
            address: regs::ADDRESS,
            writes: Vec::new(),
            picture: pic,
            timing: Timing::default(),
            fault: Fault::None,
            bus_fault: BusFault::None,
            tick: 0,
            frozen: None,
        };
        sim.reset_registers();
        sim
    }

    /// With other timing.
    pub fn with_timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self.tick = timing.start;
        self
    }

    /// With a fault.
    pub fn with_fault(mut self, fault: Fault) -> Self {
        self.fault = fault;
        self
    }

    /// With a fault of the board's data lines.
    pub fn with_bus_fault(mut self, fault: BusFault) -> Self {
        self.bus_fault = fault;
        self
    }

    /// Another chip: the ID registers read `pid` and `ver`.
    pub fn with_ids(mut self, pid: u8, ver: u8) -> Self {
        self.regs[usize::from(regs::PID)] = pid;
        self.regs[usize::from(regs::VER)] = ver;
        self
    }

    /// Answers at another 7-bit address (so that 0x21 is not acknowledged).
    pub fn at_address(mut self, address: u8) -> Self {
        self.address = address;
        self
    }

    /// Replaces the picture (for the next frames).
    pub fn set_picture(&mut self, picture: &[u8]) {
        self.picture.clear();
        self.picture.extend_from_slice(picture);
        self.picture.resize(WIDTH * HEIGHT, 0);
    }

    /// Every register write acknowledged so far, in order.
    pub fn writes(&self) -> &[(u8, u8)] {
        &self.writes
    }

    /// A register's value now.
    pub fn reg(&self, reg: u8) -> u8 {
        self.regs.get(usize::from(reg)).copied().unwrap_or(0)
    }

    /// Ticks (bus calls) since the start.
    pub fn ticks(&self) -> u64 {
        self.tick - self.timing.start
    }

    /// The byte order the registers select.
    pub fn byte_order(&self) -> ByteOrder {
        ByteOrder::from_regs(self.reg(regs::TSLB), self.reg(regs::COM13))
    }

    /// True when the registers select QQVGA YUV422 (the table's COM7, COM3, COM14,
    /// SCALING_DCWCTR and SCALING_PCLK_DIV).
    pub fn qqvga_yuv(&self) -> bool {
        self.reg(regs::COM7) & 0x05 == 0
            && self.reg(regs::COM3) & 0x04 != 0
            && self.reg(regs::COM14) == 0x1A
            && self.reg(regs::SCALING_DCWCTR) == 0x22
            && self.reg(regs::SCALING_PCLK_DIV) & 0x0F == 0x02
    }

    /// True when PCLK is held low outside HREF (`COM10[5]`).
    pub fn pclk_gated(&self) -> bool {
        self.reg(regs::COM10) & regs::COM10_PCLK_HB != 0
    }

    /// Bytes a line carries with the current registers (320 in QQVGA, 1280 otherwise).
    pub fn line_bytes(&self) -> u32 {
        if self.qqvga_yuv() {
            LINE_BYTES as u32
        } else {
            4 * LINE_BYTES as u32
        }
    }

    /// Capture limits that fit this timing with a margin: a frame and a half for
    /// VSYNC, the vertical blanking and two lines for HREF, two PCLK periods.
    pub fn limits(&self) -> Limits {
        let t = self.timing;
        let line = u64::from(self.line_period()) * u64::from(2 * t.half);
        let frame = line * u64::from(self.frame_lines());
        let fit = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        Limits {
            frame: fit(frame * 3 / 2),
            line: fit(line * u64::from(t.vsync_lines + t.back_porch + 2)),
            pclk: 4 * t.half + 2,
        }
    }

    fn reset_registers(&mut self) {
        let (pid, ver) = (self.reg(regs::PID), self.reg(regs::VER));
        let keep_ids = pid != 0;
        self.regs = [0; regs::LAST as usize + 1];
        for &(r, v) in DEFAULTS {
            self.regs[usize::from(r)] = v;
        }
        if keep_ids {
            self.regs[usize::from(regs::PID)] = pid;
            self.regs[usize::from(regs::VER)] = ver;
        }
    }

    fn write_reg(&mut self, reg: u8, value: u8) -> Result<(), SimI2cError> {
        if reg > regs::LAST || READ_ONLY.contains(&reg) {
            return Err(nack_data());
        }
        self.writes.push((reg, value));
        if reg == regs::COM7 && value & regs::COM7_RESET != 0 {
            self.reset_registers();
        } else {
            self.regs[usize::from(reg)] = value;
        }
        Ok(())
    }

    fn active_lines(&self) -> u32 {
        match self.fault {
            Fault::MissingLine => HEIGHT as u32 - 1,
            Fault::ExtraLine => HEIGHT as u32 + 1,
            _ => HEIGHT as u32,
        }
    }

    fn line_period(&self) -> u32 {
        self.line_bytes() + self.timing.hblank
    }

    fn frame_lines(&self) -> u32 {
        let t = self.timing;
        t.vsync_lines + t.back_porch + HEIGHT as u32 + t.front_porch
    }

    /// Bytes of HREF on active line `line`.
    fn href_bytes(&self, line: u32) -> u32 {
        let normal = self.line_bytes();
        match self.fault {
            Fault::ShortLine { line: l, bytes } if u32::from(l) == line => u32::from(bytes),
            Fault::LongLine { line: l, extra } if u32::from(l) == line => {
                normal + u32::from(extra).min(self.timing.hblank)
            }
            _ => normal,
        }
    }

    /// Byte `p` of active line `line`, in the selected order.
    fn byte(&self, line: u32, p: u32) -> u8 {
        let bytes_per_pixel_pair = 4;
        let scale = (self.line_bytes() / LINE_BYTES as u32).max(1);
        let pair = (p / bytes_per_pixel_pair / scale) as usize;
        let row = (line as usize).min(HEIGHT - 1);
        let bars = self.reg(regs::SCALING_YSC) & regs::SCALING_YSC_COLOR_BAR != 0;
        let at = |x: usize| {
            let x = x.min(WIDTH - 1);
            if bars {
                color_bar(x)
            } else {
                self.picture[row * WIDTH + x]
            }
        };
        let (y0, y1) = (at(2 * pair), at(2 * pair + 1));
        // Chroma that is never equal to the Y next to it by construction; or the
        // fixed values of MANU and MANV when TSLB[4] says so (datasheet table 8-2).
        let fixed =
            self.reg(regs::TSLB) & regs::TSLB_FIXED_UV != 0 && self.fault != Fault::IgnoresFixedUv;
        let (u, v) = if fixed {
            (self.reg(regs::MANU), self.reg(regs::MANV))
        } else {
            (!y0, y1.wrapping_add(97))
        };
        let seq = match self.byte_order() {
            ByteOrder::Yuyv => [y0, u, y1, v],
            ByteOrder::Yvyu => [y0, v, y1, u],
            ByteOrder::Uyvy => [u, y0, v, y1],
            ByteOrder::Vyuy => [v, y0, u, y1],
        };
        seq[(p % bytes_per_pixel_pair) as usize]
    }

    /// Levels and data at tick `t`.
    fn state(&mut self, t: u64) -> (Levels, u8) {
        if let Some(l) = self.frozen {
            return (l, 0);
        }
        let tm = self.timing;
        let period = u64::from(2 * tm.half);
        let line_ticks = u64::from(self.line_period()) * period;
        let frame_ticks = line_ticks * u64::from(self.frame_lines());
        let in_frame = t % frame_ticks;
        let line = (in_frame / line_ticks) as u32;
        let in_line = in_frame % line_ticks;
        let p = (in_line / period) as u32;
        let high_phase = in_line % period >= u64::from(tm.half);
        let vsync = line < tm.vsync_lines && self.fault != Fault::NoVsync;
        let first = tm.vsync_lines + tm.back_porch;
        let active = line >= first && line < first + self.active_lines();
        let a = line.wrapping_sub(first);
        let href = active && p < self.href_bytes(a);
        let pclk = if href || !self.pclk_gated() {
            high_phase
        } else {
            false
        };
        let levels = Levels { vsync, href, pclk };
        if let Fault::PclkStuck { line: l, byte } = self.fault
            && active
            && a == u32::from(l)
            && p == u32::from(byte)
        {
            self.frozen = Some(levels);
        }
        let data = if href { self.byte(a, p) } else { 0x10 };
        (levels, data)
    }
}

/// Luma of the 8-bar colour bar at column `x` (`SCALING_YSC[7]`): vertical bars of 20
/// columns from white on the left to black on the right, as every working driver
/// describes it (board.md). The sensor's real luma values are undocumented: these are
/// the simulation's own, an even ramp from 235 to 16.
fn color_bar(x: usize) -> u8 {
    let bar = (x * 8 / WIDTH) as u32;
    (235 - bar * (235 - 16) / 7) as u8
}

fn nack_data() -> SimI2cError {
    SimI2cError(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data))
}

impl ErrorType for SimOv7675 {
    type Error = SimI2cError;
}

impl I2c for SimOv7675 {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), Self::Error> {
        if address != self.address {
            return Err(SimI2cError(ErrorKind::NoAcknowledge(
                NoAcknowledgeSource::Address,
            )));
        }
        let writes = operations.iter().any(|o| matches!(o, Operation::Write(_)));
        let reads = operations.iter().any(|o| matches!(o, Operation::Read(_)));
        if writes && reads {
            // Write then read without a STOP: a repeated start, which SCCB lacks.
            return Err(SimI2cError(ErrorKind::Bus));
        }
        for op in operations {
            match op {
                Operation::Write(bytes) => match **bytes {
                    [] => {}
                    [reg] if reg > regs::LAST => return Err(nack_data()),
                    [reg] => self.pointer = reg,
                    [reg, value] => {
                        self.write_reg(reg, value)?;
                        self.pointer = reg;
                    }
                    // SCCB writes one register per transmission.
                    _ => return Err(nack_data()),
                },
                Operation::Read(buf) => {
                    let value = self.reg(self.pointer);
                    buf.fill(value);
                }
            }
        }
        Ok(())
    }
}

impl ParallelBus for SimOv7675 {
    fn levels(&mut self) -> Levels {
        self.tick += 1;
        self.state(self.tick).0
    }

    fn data(&mut self) -> u8 {
        self.tick += 1;
        let sent = self.state(self.tick).1;
        self.bus_fault.read(sent, self.tick)
    }
}

/// The simulation behind a shared `RefCell`, as [`I2c`] and [`ParallelBus`] at once:
/// copies of one handle can configure and capture the same sensor (and a capture
/// hook can spend bus time).
#[derive(Debug, Clone, Copy)]
pub struct SimHandle<'a>(pub &'a RefCell<SimOv7675>);

impl ErrorType for SimHandle<'_> {
    type Error = SimI2cError;
}

impl I2c for SimHandle<'_> {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), Self::Error> {
        self.0.borrow_mut().transaction(address, operations)
    }
}

impl ParallelBus for SimHandle<'_> {
    fn levels(&mut self) -> Levels {
        self.0.borrow_mut().levels()
    }

    fn data(&mut self) -> u8 {
        self.0.borrow_mut().data()
    }
}
