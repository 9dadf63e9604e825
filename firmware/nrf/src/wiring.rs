//! Where each board's camera is wired: the pins, and the fast function that assembles a
//! pixel byte from one read of P1.IN (checked on the host against the pin list).

/// The camera's pins on one board.
#[derive(Debug, Clone, Copy)]
pub struct CameraPins {
    /// P0 pin of VSYNC.
    pub vsync: u8,
    /// P0 pin of HREF.
    pub href: u8,
    /// P0 pin of PCLK.
    pub pclk: u8,
    /// P0 pin of XCLK (the I2S master clock's output).
    pub xclk: u8,
    /// P1 pins of D0..D7.
    pub data: [u8; 8],
    /// D7..D0 from a read of P1.IN: a fast equivalent of [`assemble`] over `data`.
    pub byte: fn(u32) -> u8,
}

/// The Tiny ML Shield on the Nano 33 BLE Sense (Arduino_OV767X's Nano 33 BLE mapping,
/// the nRF pins from the Nano 33 BLE variant file; /work/shared/notes/board.md):
/// VSYNC D8 = P0.21, HREF A1 = P0.05, PCLK A0 = P0.04, XCLK D9 = P0.27, D0 = P1.02,
/// D1 = P1.03, D2..D7 = P1.10..P1.15. (Some shields swap D0 and D1: the wiring
/// self-test finds it.)
pub const NANO33BLE: CameraPins = CameraPins {
    vsync: 21,
    href: 5,
    pclk: 4,
    xclk: 27,
    data: [2, 3, 10, 11, 12, 13, 14, 15],
    byte: nano33ble_byte,
};

/// A camera on the nRF52840-DK's Arduino header (firmware/README.md, "Wiring"):
/// VSYNC A0 = P0.03, HREF A1 = P0.04, PCLK A2 = P0.28, XCLK A3 = P0.29, D0..D7 =
/// Arduino D0..D7 = P1.01..P1.08.
pub const NRF52840_DK: CameraPins = CameraPins {
    vsync: 3,
    href: 4,
    pclk: 28,
    xclk: 29,
    data: [1, 2, 3, 4, 5, 6, 7, 8],
    byte: dk_byte,
};

/// The Nano's byte: `((P1.IN >> 2) & 0x03) | ((P1.IN >> 8) & 0xFC)`, as
/// Arduino_OV767X assembles it.
#[inline(always)]
fn nano33ble_byte(p1: u32) -> u8 {
    (((p1 >> 2) & 0x03) | ((p1 >> 8) & 0xFC)) as u8
}

/// The DK's byte: one shift of P1.IN.
#[inline(always)]
fn dk_byte(p1: u32) -> u8 {
    (p1 >> 1) as u8
}

/// The byte on `data` (D0..D7 as P1 pins) in a read of P1.IN, bit by bit: the plain
/// definition the boards' fast functions are checked against.
pub fn assemble(p1: u32, data: &[u8; 8]) -> u8 {
    data.iter().enumerate().fold(0, |byte, (bit, &pin)| {
        byte | (((p1 >> pin) & 1) as u8) << bit
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte on the data pins, with every other P1 pin high and then low.
    fn check(pins: &CameraPins) {
        for value in 0..=255u8 {
            let on_pins = pins.data.iter().enumerate().fold(0u32, |p1, (bit, &pin)| {
                p1 | u32::from(value >> bit & 1) << pin
            });
            let mask = pins.data.iter().fold(0u32, |m, &pin| m | 1 << pin);
            for others in [0, !mask] {
                let p1 = on_pins | others;
                assert_eq!(assemble(p1, &pins.data), value);
                assert_eq!((pins.byte)(p1), value, "P1.IN = {p1:#010x}");
            }
        }
    }

    #[test]
    fn the_nanos_fast_byte_is_its_pins() {
        check(&NANO33BLE);
    }

    #[test]
    fn the_dks_fast_byte_is_its_pins() {
        check(&NRF52840_DK);
    }

    #[test]
    fn a_wrong_fast_byte_is_caught() {
        // The check fails for a function that swaps D0 and D1.
        let swapped = CameraPins {
            byte: |p1| (((p1 >> 3) & 1) | ((p1 >> 1) & 2) | ((p1 >> 8) & 0xFC)) as u8,
            ..NANO33BLE
        };
        assert!(std::panic::catch_unwind(|| check(&swapped)).is_err());
    }
}
