//! Register addresses and the bits this driver uses.
//!
//! Sources: the OV7670/OV7171 CMOS VGA datasheet (OmniVision, v1.4, section 8,
//! "Register Set", table 8-2) and the OV7675 datasheet's register table, which has the
//! same addresses for everything listed here. Bit meanings quoted in the comments are
//! the datasheet's.

/// SCCB slave address, 7-bit form (0x42 write / 0x43 read in the datasheet's 8-bit
/// form; datasheet section 6, "SCCB").
pub const ADDRESS: u8 = 0x21;

/// Highest register address in the register table (0xC9, `SATCTR`).
pub const LAST: u8 = 0xC9;

/// Vertical frame control: `VREF[3:2]` VSTOP low bits, `VREF[1:0]` VSTART low bits.
pub const VREF: u8 = 0x03;
/// Product ID, most significant byte (read-only, 0x76).
pub const PID: u8 = 0x0A;
/// Product ID, least significant byte: the version (read-only, 0x73).
pub const VER: u8 = 0x0B;
/// Common control 3: `COM3[2]` DCW (downsample, crop, window) enable.
pub const COM3: u8 = 0x0C;
/// Internal clock: `CLKRC[6]` use the external clock directly, `CLKRC[5:0]` prescaler.
pub const CLKRC: u8 = 0x11;
/// Common control 7: `COM7[7]` SCCB register reset, `COM7[2]` and `COM7[0]` output format
/// (00 = YUV).
pub const COM7: u8 = 0x12;
/// Common control 10: `COM10[5]` PCLK does not toggle during horizontal blank,
/// `COM10[4]` PCLK reverse, `COM10[3]` HREF reverse, `COM10[1]` VSYNC negative.
pub const COM10: u8 = 0x15;
/// Output format, horizontal frame start high eight bits.
pub const HSTART: u8 = 0x17;
/// Output format, horizontal frame end high eight bits.
pub const HSTOP: u8 = 0x18;
/// Output format, vertical frame start high eight bits.
pub const VSTRT: u8 = 0x19;
/// Output format, vertical frame end high eight bits.
pub const VSTOP: u8 = 0x1A;
/// Manufacturer ID, high byte (read-only, 0x7F).
pub const MIDH: u8 = 0x1C;
/// Manufacturer ID, low byte (read-only, 0xA2).
pub const MIDL: u8 = 0x1D;
/// HREF control: `HREF[5:3]` HSTOP low bits, `HREF[2:0]` HSTART low bits.
pub const HREF: u8 = 0x32;
/// Line buffer test option: `TSLB[3]` output sequence (with `COM13[0]`), `TSLB[4]`
/// fixed U/V output (the values of [`MANU`] and [`MANV`]).
pub const TSLB: u8 = 0x3A;
/// Common control 13: `COM13[0]` UV swap (with `TSLB[3]`).
pub const COM13: u8 = 0x3D;
/// Common control 14: `COM14[4]` DCW and scaling PCLK enable, `COM14[3]` manual scaling,
/// `COM14[2:0]` PCLK divider.
pub const COM14: u8 = 0x3E;
/// Common control 15: `COM15[7:6]` output range (11 = 00 to FF).
pub const COM15: u8 = 0x40;
/// Manual U value (default 0x80), "effective only when register `TSLB[4]` is high".
pub const MANU: u8 = 0x67;
/// Manual V value (default 0x80), "effective only when register `TSLB[4]` is high".
pub const MANV: u8 = 0x68;
/// PLL control: `DBLV[7:6]` PLL multiplier (00 = bypass).
pub const DBLV: u8 = 0x6B;
/// Horizontal scale factor.
pub const SCALING_XSC: u8 = 0x70;
/// Vertical scale factor.
pub const SCALING_YSC: u8 = 0x71;
/// Downsample control: `[5:4]` vertical, `[1:0]` horizontal (10 = by 4).
pub const SCALING_DCWCTR: u8 = 0x72;
/// DSP scale clock divider: `[3:0]` (0010 = by 4).
pub const SCALING_PCLK_DIV: u8 = 0x73;
/// Pixel clock delay.
pub const SCALING_PCLK_DELAY: u8 = 0xA2;

/// `COM7[7]`: resets every register to its default; clears itself.
pub const COM7_RESET: u8 = 0x80;
/// `COM10[5]`: PCLK does not toggle during horizontal blank.
pub const COM10_PCLK_HB: u8 = 0x20;
/// `COM10[1]`: VSYNC negative.
pub const COM10_VSYNC_NEG: u8 = 0x02;
/// `TSLB[3]`: output sequence bit (see [`ByteOrder`](crate::ByteOrder)).
pub const TSLB_SEQ: u8 = 0x08;
/// `TSLB[4]`: "Use fixed UV value set in registers MANU and MANV as UV output instead
/// of chip output" (0: normal UV output).
pub const TSLB_FIXED_UV: u8 = 0x10;
/// `SCALING_YSC[7]` alone: the 8-bar colour bar test pattern. Datasheet table 8-2 makes
/// `SCALING_XSC[7]` and `SCALING_YSC[7]` the two test-pattern bits (none, shifting 1,
/// 8-bar colour bar, fade to grey) with an ambiguous bit order; every working driver
/// (Linux `ov7670_s_test_pattern`, Arduino_OV767X, esp32-camera, Adafruit) sets
/// `SCALING_YSC[7]` alone for the 8-bar colour bar (board.md). Bits 6:0 are the scale
/// factor: read-modify-write.
pub const SCALING_YSC_COLOR_BAR: u8 = 0x80;
/// `COM13[0]`: UV swap bit (see [`ByteOrder`](crate::ByteOrder)).
pub const COM13_UVSWAP: u8 = 0x01;

/// PID of the OV7670 and of the OV7675 (datasheets: PID default 0x76).
pub const PID_OV767X: u8 = 0x76;
/// VER of the OV7670 and of the OV7675 (datasheets: VER default 0x73).
pub const VER_OV767X: u8 = 0x73;
/// MIDH of OmniVision parts (datasheet: 0x7F).
pub const MIDH_OMNIVISION: u8 = 0x7F;
/// MIDL of OmniVision parts (datasheet: 0xA2).
pub const MIDL_OMNIVISION: u8 = 0xA2;
