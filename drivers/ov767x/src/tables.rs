//! The register tables, as data: every value with the place it comes from.
//!
//! Where a value rests on knowledge of the OV767x family that could not be checked
//! against a datasheet while this was written, its source says so ("family
//! knowledge, unverified"): a real sensor is the judge of those.

use crate::regs;

/// One register write of a table, with its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegWrite {
    /// Register address.
    pub reg: u8,
    /// Value written.
    pub value: u8,
    /// Where the value comes from (document and section), and what it does.
    pub source: &'static str,
}

const fn w(reg: u8, value: u8, source: &'static str) -> RegWrite {
    RegWrite { reg, value, source }
}

/// Frame rates the table supports at XCLK = 16 MHz: the ones a polled GPIO capture on
/// a 64 MHz Cortex-M4 keeps up with (PCLK 1 MHz at 5 fps, one byte every 64 cycles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FrameRate {
    /// One frame a second (PCLK 200 kHz in QQVGA).
    Fps1,
    /// Five frames a second (PCLK 1 MHz in QQVGA).
    Fps5,
}

impl FrameRate {
    /// Frames per second.
    pub const fn fps(self) -> u32 {
        match self {
            Self::Fps1 => 1,
            Self::Fps5 => 5,
        }
    }

    /// The CLKRC write for this rate with XCLK = 16 MHz.
    ///
    /// Timing: a VGA frame is 510 lines of 784 pixel times, a pixel time is two
    /// internal clocks in YUV422 (datasheet section 7, "VGA frame timing"), so a frame
    /// is 799,680 internal clocks; the internal clock is XCLK / (2 (`CLKRC[5:0]` + 1))
    /// with the PLL bypassed (datasheet CLKRC description; the factor 2 is family
    /// knowledge, unverified). 16 MHz / 4 = 4 MHz gives 5.0 fps, 16 MHz / 20 =
    /// 0.8 MHz gives 1.0 fps.
    pub const fn clkrc(self) -> RegWrite {
        match self {
            Self::Fps1 => w(
                regs::CLKRC,
                0x09,
                "CLKRC (datasheet 8.2): prescaler 9, internal clock 16 MHz / 20 = 0.8 MHz, 1 fps (factor 2: family knowledge, unverified)",
            ),
            Self::Fps5 => w(
                regs::CLKRC,
                0x01,
                "CLKRC (datasheet 8.2): prescaler 1, internal clock 16 MHz / 4 = 4 MHz, 5 fps (factor 2: family knowledge, unverified)",
            ),
        }
    }

    /// Internal clock in Hz at XCLK = 16 MHz.
    pub const fn internal_clock_hz(self) -> u32 {
        match self {
            Self::Fps1 => 800_000,
            Self::Fps5 => 4_000_000,
        }
    }
}

/// QQVGA (160x120) YUV422, Y U Y V byte order, PCLK gated in blanking, for the OV7675
/// and the OV7670; written after the soft reset, before the [`FrameRate::clkrc`] write.
///
/// The scaling rows (COM3, COM14, SCALING_*) and the window rows (HSTART … VREF) are the
/// QQVGA column of the OV7670 Implementation Guide (v1.0, section 3.2, "Resolution
/// settings"), recalled from knowledge of the family: unverified here.
pub const QQVGA_YUV422: &[RegWrite] = &[
    w(
        regs::DBLV,
        0x0A,
        "DBLV (datasheet 8.2): PLL bypassed (DBLV[7:6] = 00), regulator bits at their default 0x0A",
    ),
    w(
        regs::COM7,
        0x00,
        "COM7 (datasheet 8.2): YUV output (COM7[2] = 0, COM7[0] = 0), no preset resolution: QQVGA comes from DCW and scaling",
    ),
    w(
        regs::COM3,
        0x04,
        "COM3 (datasheet 8.2): DCW enable (COM3[2]); implementation guide 3.2, QQVGA",
    ),
    w(
        regs::COM14,
        0x1A,
        "COM14 (datasheet 8.2): scaling PCLK (COM14[4]), manual scaling (COM14[3]), PCLK / 4 (COM14[2:0] = 010); implementation guide 3.2, QQVGA (unverified)",
    ),
    w(
        regs::SCALING_XSC,
        0x3A,
        "SCALING_XSC: horizontal scale factor 0x3A, no test pattern; implementation guide 3.2 (unverified)",
    ),
    w(
        regs::SCALING_YSC,
        0x35,
        "SCALING_YSC: vertical scale factor 0x35, no test pattern; implementation guide 3.2 (unverified)",
    ),
    w(
        regs::SCALING_DCWCTR,
        0x22,
        "SCALING_DCWCTR (datasheet 8.2): downsample by 4 vertically ([5:4] = 10) and horizontally ([1:0] = 10)",
    ),
    w(
        regs::SCALING_PCLK_DIV,
        0xF2,
        "SCALING_PCLK_DIV (datasheet 8.2): DSP clock / 4 ([3:0] = 0010); implementation guide 3.2, QQVGA (unverified)",
    ),
    w(
        regs::SCALING_PCLK_DELAY,
        0x02,
        "SCALING_PCLK_DELAY: 2; implementation guide 3.2, QQVGA (unverified)",
    ),
    w(
        regs::HSTART,
        0x16,
        "HSTART: window start 0x16 (high bits); implementation guide 3.2, QQVGA (unverified)",
    ),
    w(
        regs::HSTOP,
        0x04,
        "HSTOP: window end 0x04 (high bits, wraps past 784); implementation guide 3.2, QQVGA (unverified)",
    ),
    w(
        regs::HREF,
        0xA4,
        "HREF: edge offset and HSTART/HSTOP low bits; implementation guide 3.2, QQVGA (unverified)",
    ),
    w(
        regs::VSTRT,
        0x02,
        "VSTRT: vertical start 0x02 (high bits); implementation guide 3.2, QQVGA (unverified)",
    ),
    w(
        regs::VSTOP,
        0x7A,
        "VSTOP: vertical end 0x7A (high bits); implementation guide 3.2, QQVGA (unverified)",
    ),
    w(
        regs::VREF,
        0x0A,
        "VREF: VSTART/VSTOP low bits; implementation guide 3.2, QQVGA (unverified)",
    ),
    w(
        regs::TSLB,
        0x04,
        "TSLB (datasheet 8.2): TSLB[3] = 0 with COM13[0] = 0 gives Y U Y V; TSLB[0] = 0 fixed window; bit 2 set as the family's drivers write it (unverified)",
    ),
    w(
        regs::COM13,
        0x88,
        "COM13 (datasheet 8.2): gamma on (COM13[7]), its default 0x88, UV swap off (COM13[0] = 0): Y U Y V",
    ),
    w(
        regs::COM15,
        0xC0,
        "COM15 (datasheet 8.2): full output range 00..FF (COM15[7:6] = 11), not RGB",
    ),
    w(
        regs::COM10,
        regs::COM10_PCLK_HB,
        "COM10 (datasheet 8.2): PCLK does not toggle during horizontal blank (COM10[5]); VSYNC and HREF positive, data changes on PCLK's falling edge",
    ),
];
