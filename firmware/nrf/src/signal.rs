//! What the board shows on its three status LEDs, the same on both boards: the Nano's
//! RGB LED (green, red, blue) and the DK's LED1, LED2, LED3.
//!
//! | signal | Nano 33 BLE RGB LED | nRF52840-DK |
//! | --- | --- | --- |
//! | [`Signal::Starting`] | white, until the first frame | LED1 + LED2 + LED3 |
//! | [`Signal::Garment`] | green | LED1 |
//! | [`Signal::NoGarment`] | red | LED2 |
//! | [`Signal::CameraFault`] | blue | LED3 |
//! | [`Signal::NoSerial`] | yellow (green + red), 2 s at start-up | (no USB) |
//! | [`Signal::WiringFault`] | magenta (red + blue), 3 s after the camera starts | LED2 + LED3 |

use fw_common::ov767x::WiringReport;

/// A state the board shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Starting: from reset until the first frame (again after the camera is configured
    /// afresh).
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
    /// [`Signal::WiringFault`] for a wiring self-test report that names a fault no
    /// correction repairs (a stuck or floating data line); `None` for a good, corrected
    /// or inconclusive one.
    pub fn for_wiring(report: &WiringReport) -> Option<Signal> {
        matches!(
            report,
            WiringReport::StuckHigh { .. }
                | WiringReport::StuckLow { .. }
                | WiringReport::Floating { .. }
        )
        .then_some(Signal::WiringFault)
    }

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

/// Camera faults in a row after which the sensor is configured afresh.
pub const REINIT_AFTER: u32 = 3;

/// What the live loop does after a frame: the signal to show, and whether to configure
/// the sensor afresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Next {
    /// The LEDs' new state.
    pub signal: Signal,
    /// True after [`REINIT_AFTER`] camera faults in a row.
    pub reinit: bool,
}

/// Counts camera faults in a row and decides each frame's [`Next`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounter {
    in_a_row: u32,
}

impl FaultCounter {
    /// After a frame: `Some(true)` a garment, `Some(false)` none (or an error of the
    /// pipeline), `None` a camera fault.
    pub fn after_frame(&mut self, garment: Option<bool>) -> Next {
        match garment {
            Some(g) => {
                self.in_a_row = 0;
                Next {
                    signal: if g {
                        Signal::Garment
                    } else {
                        Signal::NoGarment
                    },
                    reinit: false,
                }
            }
            None => {
                self.in_a_row += 1;
                let reinit = self.in_a_row >= REINIT_AFTER;
                if reinit {
                    self.in_a_row = 0;
                }
                Next {
                    signal: Signal::CameraFault,
                    reinit,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sensor_is_configured_afresh_after_three_faults_in_a_row() {
        let mut c = FaultCounter::default();
        let reinits: std::vec::Vec<bool> = [None, None, None, None, Some(true), None, None, None]
            .into_iter()
            .map(|g| c.after_frame(g).reinit)
            .collect();
        assert_eq!(
            reinits,
            [false, false, true, false, false, false, false, true]
        );
    }

    #[test]
    fn a_frame_resets_the_count_and_shows_its_answer() {
        let mut c = FaultCounter::default();
        assert_eq!(c.after_frame(None).signal, Signal::CameraFault);
        assert_eq!(c.after_frame(None).signal, Signal::CameraFault);
        assert_eq!(c.after_frame(Some(false)).signal, Signal::NoGarment);
        assert!(!c.after_frame(None).reinit);
        assert!(!c.after_frame(None).reinit);
        assert_eq!(c.after_frame(Some(true)).signal, Signal::Garment);
    }

    #[test]
    fn only_an_uncorrectable_wiring_fault_lights_the_led() {
        let swapped = fw_common::ov767x::Wiring::swapped(0, 1).unwrap();
        for (report, signal) in [
            (WiringReport::Ok, None),
            (WiringReport::Corrected(swapped), None),
            (WiringReport::Inconclusive, None),
            (
                WiringReport::StuckHigh { line: 5 },
                Some(Signal::WiringFault),
            ),
            (
                WiringReport::StuckLow { line: 0 },
                Some(Signal::WiringFault),
            ),
            (
                WiringReport::Floating { line: 7 },
                Some(Signal::WiringFault),
            ),
        ] {
            assert_eq!(Signal::for_wiring(&report), signal, "{report}");
        }
    }

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
