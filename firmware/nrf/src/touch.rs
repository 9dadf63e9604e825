//! The 1200-baud touch: how a host asks an Arduino board to restart into its
//! bootloader, so that an upload needs no double-tap of reset.
//!
//! The host opens the port at 1200 baud and closes it (DTR drops): `arduino-cli upload`
//! does it for the Nano 33 BLE (its `boards.txt` sets `upload.use_1200bps_touch`), or
//! `stty -F /dev/ttyACM0 1200` by hand (open, set 1200 baud, close). ArduinoCore-mbed
//! (`cores/arduino/USB/USBSerial.cpp`, `usbPortChanged` and `waitForPortClose`): when
//! the host sets 1200 baud, wait until DTR is low and 200 ms have passed, then
//! `_ontouch1200bps_` (the Nano's `variant.cpp`: GPREGRET = 0xB0 and a reset,
//! [`crate::startup::ENTER_BOOTLOADER`]).
//!
//! Here the same as a state machine fed with what usbd-serial reports after each poll
//! (`SerialPort::line_coding().data_rate()`, `SerialPort::dtr()`) and a time, a little
//! stricter than Arduino's so that nothing but a touch restarts the board: a fall of
//! DTR while the port is at 1200 baud arms it; [`HOLD_MS`] later, with the port still
//! at 1200 baud and DTR still low, it says "enter the bootloader". Anything else
//! disarms it: DTR raised again, another baud rate. A port merely set to 1200 baud (DTR
//! high, or never raised) is not a touch; Arduino would restart for the latter.

/// How long DTR must stay low at 1200 baud (USBSerial.cpp waits 200 ms).
pub const HOLD_MS: u32 = 200;

/// The baud rate of the touch.
pub const TOUCH_BAUD: u32 = 1200;

/// The touch detector. Time is any wrapping counter (ms on the host, core cycles on
/// the board); `hold` is [`HOLD_MS`] in its unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Touch {
    hold: u32,
    dtr: bool,
    armed_at: Option<u32>,
}

impl Touch {
    /// A detector that fires `hold` time units after a touch; DTR starts low.
    pub const fn new(hold: u32) -> Self {
        Self {
            hold,
            dtr: false,
            armed_at: None,
        }
    }

    /// Feeds the port's state at time `now`; true when the board should enter its
    /// bootloader now.
    pub fn update(&mut self, baud: u32, dtr: bool, now: u32) -> bool {
        let fell = self.dtr && !dtr;
        self.dtr = dtr;
        if baud != TOUCH_BAUD || dtr {
            self.armed_at = None;
            return false;
        }
        if fell {
            self.armed_at = Some(now);
        }
        self.armed_at
            .is_some_and(|t| now.wrapping_sub(t) >= self.hold)
    }

    /// True while a touch waits for its hold time.
    pub fn armed(&self) -> bool {
        self.armed_at.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `(baud, dtr, ms)` samples; the times at which it fired.
    fn fired(samples: &[(u32, bool, u32)]) -> std::vec::Vec<u32> {
        let mut touch = Touch::new(HOLD_MS);
        samples
            .iter()
            .filter(|&&(baud, dtr, t)| touch.update(baud, dtr, t))
            .map(|&(_, _, t)| t)
            .collect()
    }

    /// Open at 115200 (DTR up), set 1200, close (DTR down), then polls every 50 ms.
    fn touch_from(t: u32) -> std::vec::Vec<(u32, bool, u32)> {
        let at = |dt: u32| t.wrapping_add(dt);
        let mut s = std::vec![
            (115_200, true, at(0)),
            (1200, true, at(1)),
            (1200, false, at(2))
        ];
        s.extend((1..=6).map(|k| (1200, false, at(2 + 50 * k))));
        s
    }

    #[test]
    fn a_touch_enters_the_bootloader_after_the_hold() {
        // Armed at t = 2; 202 is the first poll at least 200 ms later.
        assert_eq!(fired(&touch_from(0))[0], 202);
    }

    #[test]
    fn not_a_moment_before_the_hold() {
        let mut touch = Touch::new(HOLD_MS);
        assert!(!touch.update(1200, true, 10));
        assert!(!touch.update(1200, false, 20));
        assert!(touch.armed());
        assert!(!touch.update(1200, false, 219));
        assert!(touch.update(1200, false, 220));
    }

    #[test]
    fn open_at_1200_and_close_in_one_poll_is_a_touch() {
        // usbd-serial's state sampled once after both requests.
        assert_eq!(
            fired(&[(9600, true, 0), (1200, false, 5), (1200, false, 300)]),
            [300]
        );
    }

    #[test]
    fn the_time_may_wrap() {
        let start = u32::MAX - 100;
        assert_eq!(fired(&touch_from(start))[0], start.wrapping_add(202));
    }

    #[test]
    fn port_at_1200_with_dtr_up_is_not_a_touch() {
        let s: std::vec::Vec<_> = (0..20).map(|k| (1200, true, k * 100)).collect();
        assert!(fired(&s).is_empty());
    }

    #[test]
    fn port_at_1200_without_dtr_ever_raised_is_not_a_touch() {
        let s: std::vec::Vec<_> = (0..20).map(|k| (1200, false, k * 100)).collect();
        assert!(fired(&s).is_empty());
    }

    #[test]
    fn dtr_dropped_at_115200_is_not_a_touch() {
        // A terminal closed: DTR falls at the working baud rate.
        let s = [
            (115_200, true, 0),
            (115_200, false, 10),
            (115_200, false, 500),
        ];
        assert!(fired(&s).is_empty());
    }

    #[test]
    fn dtr_dropped_first_then_1200_is_not_a_touch() {
        let s = [
            (115_200, true, 0),
            (115_200, false, 10),
            (1200, false, 20),
            (1200, false, 500),
        ];
        assert!(fired(&s).is_empty());
    }

    #[test]
    fn dtr_raised_again_within_the_hold_cancels() {
        let s = [
            (1200, true, 0),
            (1200, false, 10),
            (1200, true, 100),
            (1200, true, 400),
        ];
        assert!(fired(&s).is_empty());
    }

    #[test]
    fn another_baud_rate_within_the_hold_cancels() {
        let s = [
            (1200, true, 0),
            (1200, false, 10),
            (9600, false, 100),
            (1200, false, 150),
            (1200, false, 400),
        ];
        assert!(fired(&s).is_empty());
    }

    #[test]
    fn a_second_touch_after_a_cancelled_one_works() {
        let mut s = std::vec![(1200, true, 0), (1200, false, 10), (1200, true, 50)];
        s.extend(touch_from(1000));
        assert_eq!(fired(&s)[0], 1202);
    }
}
