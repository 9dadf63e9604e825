//! What runs on the nRF52840 only: the hardware side of the host-tested plans.

pub mod camera;
pub mod clock;
pub mod leds;
pub mod live;
pub mod mmio;
pub mod usb;
