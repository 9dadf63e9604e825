//! What the board shows on its three status LEDs, the same on both boards: the Nano's
//! RGB LED (green, red, blue) and the DK's LED1, LED2, LED3.
//!
//! | signal | Nano 33 BLE RGB LED | nRF52840-DK |
//! | --- | --- | --- |
//! | [`Signal::Starting`] | white | LED1 + LED2 + LED3 |
//! | [`Signal::Garment`] | green | LED1 |
//! | [`Signal::NoGarment`] | red | LED2 |
//! | [`Signal::CameraFault`] | blue | LED3 |
//! | [`Signal::NoSerial`] | yellow (green + red), 2 s at start-up | (no USB) |
//! | [`Signal::WiringFault`] | magenta (red + blue), 3 s after the camera starts | LED2 + LED3 |

/// A state the board shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Starting: from reset until the camera answers.
    Starting,
    /// The last frame held a garment.
    Garment,
    /// The last frame held none (or could not be classified).
    NoGarment,
    /// The camera does not answer or its frames fail; it is retried.
    CameraFault,
    /// No USB power (VBUS) at start-up: the board runs without the serial port.
    NoSerial,
    /// The wiring self-test found a fault it cannot correct (a stuck or floating data
    /// line); the board carries on with the standard mapping.
    WiringFault,
}

impl Signal {
    /// The three lights `[first, second, third]`: the Nano's green, red, blue; the DK's
    /// LED1, LED2, LED3. `true` is on.
    pub const fn lights(self) -> [bool; 3] {
        match self {
            Signal::Starting => [true, true, true],
            Signal::Garment => [true, false, false],
            Signal::NoGarment => [false, true, false],
            Signal::CameraFault => [false, false, true],
            Signal::NoSerial => [true, true, false],
            Signal::WiringFault => [false, true, true],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signal_looks_different() {
        let all = [
            Signal::Starting,
            Signal::Garment,
            Signal::NoGarment,
            Signal::CameraFault,
            Signal::NoSerial,
            Signal::WiringFault,
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a.lights(), b.lights(), "{a:?} and {b:?}");
            }
            assert_ne!(a.lights(), [false; 3], "{a:?} is dark");
        }
    }
}
