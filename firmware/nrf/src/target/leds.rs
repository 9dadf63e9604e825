//! Three active-low status LEDs showing a [`Signal`] (the Nano's RGB LED: green, red,
//! blue; the DK's LED1, LED2, LED3; both active low).

use core::convert::Infallible;

use embedded_hal::digital::OutputPin;

use crate::signal::Signal;

/// Something that shows a [`Signal`].
pub trait Show {
    /// Shows `signal`.
    fn show(&mut self, signal: Signal);
}

/// Three active-low LEDs, in the order of [`Signal::lights`].
#[derive(Debug)]
pub struct Leds<A, B, C> {
    first: A,
    second: B,
    third: C,
}

impl<A, B, C> Leds<A, B, C>
where
    A: OutputPin<Error = Infallible>,
    B: OutputPin<Error = Infallible>,
    C: OutputPin<Error = Infallible>,
{
    /// The LEDs, showing [`Signal::Starting`].
    pub fn new(first: A, second: B, third: C) -> Self {
        let mut leds = Self {
            first,
            second,
            third,
        };
        leds.show(Signal::Starting);
        leds
    }
}

impl<A, B, C> Show for Leds<A, B, C>
where
    A: OutputPin<Error = Infallible>,
    B: OutputPin<Error = Infallible>,
    C: OutputPin<Error = Infallible>,
{
    fn show(&mut self, signal: Signal) {
        let [a, b, c] = signal.lights();
        let set = |pin: &mut dyn OutputPin<Error = Infallible>, on: bool| {
            let Ok(()) = if on { pin.set_low() } else { pin.set_high() };
        };
        set(&mut self.first, a);
        set(&mut self.second, b);
        set(&mut self.third, c);
    }
}
