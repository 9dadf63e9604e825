//! The camera classification demo on an nRF52840-DK.
//!
//! An OV7675 or OV7670 wired to the DK's Arduino header (see the wiring table in
//! firmware/README.md): XCLK 16 MHz from the I2S master clock, SCCB on TWIM0, the
//! parallel bus polled with interrupts off, QQVGA YUV422 at 5 fps, Y plane only. Each
//! frame goes through `camera::preprocess` and the int8 model and is drawn on an
//! ST7735 160x128 panel over SPIM2 (`mipidsi`, the grayscale screen converted to
//! RGB565); the line a board prints (`frame 12: Sneaker 87 % (capture 201 ms,
//! classify 158 ms)`) and the cycle counts go over defmt/RTT (`probe-rs run`). LED1
//! lights for a garment, LED2 for none, LED3 while the camera fails (it is retried).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use defmt_rtt as _;
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::OutputPin;
use embedded_hal_bus::spi::ExclusiveDevice;
use fw_common::app::{self, DwtStopwatch};
use fw_common::display::{self, GrayOnRgb565};
use fw_common::infer_core::IMAGE_LEN as PIXELS;
use fw_common::infer_core::Model;
use fw_common::live::OvCamera;
use fw_common::ov767x::{FrameRate, HEIGHT, Limits, Ov767x, Sensor, WIDTH};
use nrf52840_hal::clocks::Clocks;
use nrf52840_hal::delay::Delay;
use nrf52840_hal::gpio::{Level, p0, p1};
use nrf52840_hal::pac;
use nrf52840_hal::spim::{self, Spim};
use nrf52840_hal::twim::{self, Twim};
use panic_probe as _;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/assets.rs"));
}

mod nrf {
    include!("../../nrf-shared.rs");
}

/// Core clock.
const CORE_HZ: u32 = 64_000_000;
/// The frame rate the capture keeps up with.
const RATE: FrameRate = FrameRate::Fps5;
/// Camera faults in a row after which the sensor is configured afresh.
const REINIT_AFTER: u32 = 3;

// Camera wiring on the DK's Arduino header (firmware/README.md): VSYNC A0 = P0.03,
// HREF A1 = P0.04, PCLK A2 = P0.28, XCLK A3 = P0.29, SDA P0.26, SCL P0.27,
// D0..D7 = Arduino D0..D7 = P1.01..P1.08 (one shift of P1.IN).
const VSYNC: u32 = 3;
const HREF: u32 = 4;
const PCLK: u32 = 28;
const XCLK: u8 = 29;

#[inline(always)]
fn dk_data(p1: u32) -> u8 {
    (p1 >> 1) as u8
}

#[entry]
fn main() -> ! {
    let (Some(mut core), Some(p)) = (cortex_m::Peripherals::take(), pac::Peripherals::take())
    else {
        panic!("peripherals taken twice");
    };
    let _clocks = Clocks::new(p.CLOCK).enable_ext_hfosc();
    let mut stopwatch = DwtStopwatch::start(&mut core.DCB, &mut core.DWT, CORE_HZ);
    let mut delay = Delay::new(core.SYST);
    let port0 = p0::Parts::new(p.P0);
    let port1 = p1::Parts::new(p.P1);
    // LED1..LED3, active low.
    let mut led1 = port0.p0_13.into_push_pull_output(Level::High);
    let mut led2 = port0.p0_14.into_push_pull_output(Level::High);
    let mut led3 = port0.p0_15.into_push_pull_output(Level::High);

    // The display: ST7735 on SPIM2, SCK D13 = P1.15, MOSI D11 = P1.13, CS D10 = P1.12,
    // DC D9 = P1.11, RESET D8 = P1.10.
    let spim = Spim::new(
        p.SPIM2,
        spim::Pins {
            sck: Some(port1.p1_15.into_push_pull_output(Level::Low).degrade()),
            mosi: Some(port1.p1_13.into_push_pull_output(Level::Low).degrade()),
            miso: None,
        },
        spim::Frequency::M8,
        spim::MODE_0,
        0,
    );
    let cs = port1.p1_12.into_push_pull_output(Level::High);
    let dc = port1.p1_11.into_push_pull_output(Level::Low);
    let rst = port1.p1_10.into_push_pull_output(Level::High);
    let Ok(spi) = ExclusiveDevice::new_no_delay(spim, cs);
    let buffer = cortex_m::singleton!(: [u8; 512] = [0; 512]).expect("first use");
    let di = mipidsi::interface::SpiInterface::new(spi, dc, buffer);
    let Ok(panel) = display::st7735(di).reset_pin(rst).init(&mut delay) else {
        panic!("display init")
    };
    let mut screen = GrayOnRgb565::new(panel);

    // The camera.
    let _bus_pins = (
        port0.p0_03.into_floating_input(),
        port0.p0_04.into_floating_input(),
        port0.p0_28.into_floating_input(),
        port1.p1_01.into_floating_input(),
        port1.p1_02.into_floating_input(),
        port1.p1_03.into_floating_input(),
        port1.p1_04.into_floating_input(),
        port1.p1_05.into_floating_input(),
        port1.p1_06.into_floating_input(),
        port1.p1_07.into_floating_input(),
        port1.p1_08.into_floating_input(),
    );
    nrf::start_xclk(&p.I2S, XCLK);
    delay.delay_ms(10);
    let twim = Twim::new(
        p.TWIM0,
        twim::Pins {
            scl: port0.p0_27.into_floating_input().degrade(),
            sda: port0.p0_26.into_floating_input().degrade(),
        },
        twim::Frequency::K100,
    );
    let mut sensor = Ov767x::new(twim, Sensor::Ov7670);
    let mut bring_up = |sensor: &mut Ov767x<Twim<pac::TWIM0>>, delay: &mut Delay| loop {
        match sensor.init(RATE, delay) {
            Ok(id) => {
                defmt::info!("camera ready: {}", id);
                return;
            }
            Err(e) => {
                let _ = led3.set_low();
                defmt::warn!("camera init: {}; retrying", e);
                delay.delay_ms(1000);
            }
        }
    };
    bring_up(&mut sensor, &mut delay);

    let model = match Model::from_bytes_unverified(assets::MODEL) {
        Ok(m) => m,
        Err(_) => panic!("the model was checked at build time"),
    };
    let scratch = cortex_m::singleton!(: [i8; assets::SCRATCH_LEN] = [0; assets::SCRATCH_LEN])
        .expect("first use");
    let y = cortex_m::singleton!(: [u8; WIDTH * HEIGHT] = [0; WIDTH * HEIGHT]).expect("first use");
    let mut input = [0u8; PIXELS];
    let bus = nrf::GpioBus {
        vsync: VSYNC,
        href: HREF,
        pclk: PCLK,
        data: dk_data,
    };
    let limits = Limits::for_rate(RATE, CORE_HZ / 2);
    let mut camera = OvCamera::new(bus, y, limits, nrf::InterruptsOff);
    let (mut faults, mut index) = (0u32, 0u32);
    loop {
        let frame = match app::live_frame(
            &model,
            index,
            &mut camera,
            &mut screen,
            &mut stopwatch,
            scratch,
            &mut input,
        ) {
            Ok(f) => f,
            Err(_) => {
                defmt::error!("display write failed");
                continue;
            }
        };
        defmt::println!("{=str}", frame.line.as_str());
        let on = |pin: &mut dyn OutputPin<Error = core::convert::Infallible>, on: bool| {
            let _ = if on { pin.set_low() } else { pin.set_high() };
        };
        match frame.garment {
            Some(g) => {
                faults = 0;
                on(&mut led1, g);
                on(&mut led2, !g);
            }
            None => {
                faults += 1;
                if faults >= REINIT_AFTER {
                    faults = 0;
                    bring_up(&mut sensor, &mut delay);
                }
            }
        }
        index = index.wrapping_add(1);
    }
}
