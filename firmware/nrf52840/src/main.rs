//! The camera classification demo on an nRF52840-DK.
//!
//! An OV7675 or OV7670 wired to the DK's Arduino header (see the wiring table in
//! firmware/README.md): the clean start of `fw_nrf::startup` (the instruction cache
//! on), XCLK 16 MHz from the I2S master clock, SCCB on TWIM0, the parallel bus polled
//! with interrupts off, QQVGA YUV422 at 5 fps, Y plane only. Each frame goes through
//! `camera::preprocess` and the int8 model and is drawn on an ST7735 160x128 panel over
//! SPIM2 (`mipidsi`, the grayscale screen converted to RGB565); the line a board prints
//! (`frame 12: Sneaker 87 % (capture 201 ms, classify 158 ms)`) and the cycle counts go
//! over defmt/RTT (`probe-rs run`). LED1 lights for a garment, LED2 for none, LED3
//! while the camera fails (it is retried); all three while starting (`fw_nrf::signal`).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use defmt_rtt as _;
use embedded_hal::delay::DelayNs;
use embedded_hal_bus::spi::ExclusiveDevice;
use fw_common::app::DwtStopwatch;
use fw_common::display::{self, GrayOnRgb565};
use fw_common::infer_core::IMAGE_LEN as PIXELS;
use fw_common::infer_core::Model;
use fw_common::live::OvCamera;
use fw_common::ov767x::{FrameRate, HEIGHT, Limits, Ov767x, Sensor, WIDTH};
use fw_nrf::target::camera::{self, InterruptsOff};
use fw_nrf::target::clock;
use fw_nrf::target::leds::Leds;
use fw_nrf::target::live::{Board, Console};
use fw_nrf::target::mmio;
use fw_nrf::{startup, wiring};
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

/// Core clock.
const CORE_HZ: u32 = 64_000_000;
/// The frame rate the capture keeps up with.
const RATE: FrameRate = FrameRate::Fps5;

/// Lines go over defmt/RTT.
struct Rtt;

impl Console for Rtt {
    fn line(&mut self, line: &str) {
        defmt::println!("{=str}", line);
    }
}

#[entry]
fn main() -> ! {
    mmio::apply(&startup::CLEAN_START);
    let (Some(mut core), Some(p)) = (cortex_m::Peripherals::take(), pac::Peripherals::take())
    else {
        panic!("peripherals taken twice");
    };
    let mut delay = Delay::new(core.SYST);
    // Bounded: the HAL's own start spins on the crystal for ever.
    if !clock::start_hfxo(&p.CLOCK, &mut delay, clock::HFXO_WAIT_MS) {
        panic!(
            "the 64 MHz crystal did not start in {} ms",
            clock::HFXO_WAIT_MS
        );
    }
    let _clocks = Clocks::new(p.CLOCK).enable_ext_hfosc();
    let stopwatch = DwtStopwatch::start(&mut core.DCB, &mut core.DWT, CORE_HZ);
    let port0 = p0::Parts::new(p.P0);
    let port1 = p1::Parts::new(p.P1);
    // LED1..LED3 (P0.13..P0.15), active low.
    let leds = Leds::new(
        port0.p0_13.into_push_pull_output(Level::High),
        port0.p0_14.into_push_pull_output(Level::High),
        port0.p0_15.into_push_pull_output(Level::High),
    );

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

    // The camera (firmware/README.md, "Wiring"; fw_nrf::wiring::NRF52840_DK).
    let bus = camera::start(&wiring::NRF52840_DK, p.I2S);
    delay.delay_ms(10);
    let twim = Twim::new(
        p.TWIM0,
        twim::Pins {
            scl: port0.p0_27.into_floating_input().degrade(),
            sda: port0.p0_26.into_floating_input().degrade(),
        },
        twim::Frequency::K100,
    );

    let model = match Model::from_bytes_unverified(assets::MODEL) {
        Ok(m) => m,
        Err(_) => panic!("the model was checked at build time"),
    };
    let scratch = cortex_m::singleton!(: [i8; assets::SCRATCH_LEN] = [0; assets::SCRATCH_LEN])
        .expect("first use");
    let y = cortex_m::singleton!(: [u8; WIDTH * HEIGHT] = [0; WIDTH * HEIGHT]).expect("first use");
    let mut input = [0u8; PIXELS];
    let limits = Limits::for_rate(RATE, CORE_HZ / 2);
    let board = Board {
        sensor: Ov767x::new(twim, Sensor::Ov7670),
        rate: RATE,
        delay,
        camera: OvCamera::new(bus, y, limits, InterruptsOff),
        screen: GrayOnRgb565::new(panel),
        stopwatch,
        leds,
        console: Rtt,
    };
    board.run(&model, scratch, &mut input)
}
