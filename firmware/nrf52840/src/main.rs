//! The camera classification demo on an nRF52840-DK.
//!
//! Same loop as the QEMU app; defmt goes over RTT (`probe-rs run` shows it), panics go
//! through panic-probe, and SysTick counts core cycles (64 MHz). Frames come from
//! [`Camera`], which for now serves the sample frames from flash: that is where a
//! camera driver plugs in (see `firmware/README.md`).
#![no_std]
#![no_main]

use core::convert::Infallible;

use cortex_m_rt::entry;
use defmt_rtt as _;
use fw_common::app::{self, SysTickStopwatch};
use fw_common::display::Framebuffer;
use fw_common::frames::{Captured, FlashFrames, FrameSet, FrameSource};
use fw_common::infer_core::IMAGE_LEN as PIXELS;
use panic_probe as _;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/assets.rs"));
}

/// The camera.
///
/// **Stub**: a real driver (for example an OV7670 or OV2640 on the DK's GPIOs — the
/// nRF52840 has no parallel camera interface, so either SPI-attached modules such as
/// the ArduCAM Mini, or bit-banged/PPI+GPIOTE capture of a QQVGA Y plane) captures a
/// 160x120 grayscale frame into a buffer it owns and returns a `Frame` borrowing it,
/// with `label: None`. Until then this serves the sample frames from flash.
struct Camera {
    flash: FlashFrames<'static>,
}

impl FrameSource for Camera {
    type Error = Infallible;

    fn next_frame(&mut self) -> Result<Option<Captured<'_>>, Self::Error> {
        // Camera driver goes here: trigger a capture, wait for VSYNC, return the buffer.
        self.flash.next_frame()
    }
}

#[entry]
fn main() -> ! {
    let mut core = cortex_m::Peripherals::take().expect("first take");
    let mut stopwatch = SysTickStopwatch::start(&mut core.SYST, 1, "cycles");
    let scratch = cortex_m::singleton!(: [i8; assets::SCRATCH_LEN] = [0; assets::SCRATCH_LEN])
        .expect("first use");
    // A display driver (for example an ST7735 160x128 over SPIM) would replace this
    // framebuffer: anything that implements `DrawTarget<Color = Gray8>`, or a wrapper
    // that converts Gray8 to the panel's Rgb565.
    let screen = cortex_m::singleton!(: Framebuffer = Framebuffer::new()).expect("first use");
    let mut input = [0u8; PIXELS];
    let set = FrameSet::parse(assets::FRAMES).expect("valid frames (checked at build time)");
    let mut camera = Camera {
        flash: FlashFrames::new(set),
    };
    match app::run(
        assets::MODEL,
        &mut camera,
        screen,
        Framebuffer::checksum,
        &mut stopwatch,
        scratch,
        &mut input,
    ) {
        Ok(report) => defmt::info!("done: {}", report),
        Err(e) => defmt::error!("stopped: {}", e),
    }
    loop {
        cortex_m::asm::wfi();
    }
}
