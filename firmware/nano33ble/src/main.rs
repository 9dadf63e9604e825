//! The camera classification demo on the Arduino Nano 33 BLE Sense (Rev1 and Rev2)
//! with the Tiny ML Shield and its OV7675: the Arduino Tiny Machine Learning Kit.
//!
//! A clean start (`fw_nrf::startup::CLEAN_START`: what the Arduino bootloader leaves
//! running is stopped, the instruction cache on), XCLK 16 MHz from the I2S master clock
//! on D9, the sensor configured over SCCB (TWIM0 on A4/A5) for QQVGA YUV422 at 5 fps,
//! each frame's Y plane captured over the shield's parallel bus with interrupts off,
//! then `camera::preprocess`, the int8 model, and one line per frame over USB CDC-ACM
//! serial (the Nano's own USB port: any serial terminal), for example
//! `frame 12: Sneaker 87 % (capture 201 ms, classify 158 ms)`. The same lines and the
//! cycle counts go over defmt/RTT when a probe is attached. USB is built only when the
//! board has USB power; a 1200-baud touch restarts it into the bootloader (no
//! double-tap). The RGB LED: `fw_nrf::signal` (white starting, green a garment, red
//! none, blue a camera fault, yellow for 2 s: no USB power).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use defmt_rtt as _;
use embedded_hal::delay::DelayNs;
use fw_common::app::DwtStopwatch;
use fw_common::display::NoDisplay;
use fw_common::infer_core::IMAGE_LEN as PIXELS;
use fw_common::infer_core::Model;
use fw_common::link;
use fw_common::live::OvCamera;
use fw_common::ov767x::{FrameRate, HEIGHT, Limits, Ov767x, Sensor, WIDTH};
use fw_nrf::signal::Signal;
use fw_nrf::target::camera::{self, InterruptsOff};
use fw_nrf::target::leds::{Leds, Show};
use fw_nrf::target::live::{Answered, Board, Console};
use fw_nrf::target::{clock, mmio, usb};
use fw_nrf::{startup, wait, wiring};
use nrf52840_hal::clocks::{Clocks, ExternalOscillator, Internal, LfOscStopped};
use nrf52840_hal::delay::Delay;
use nrf52840_hal::gpio::{Level, p0};
use nrf52840_hal::pac::{self, interrupt};
use nrf52840_hal::twim::{self, Twim};
use panic_probe as _;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/assets.rs"));
}

/// Core clock.
const CORE_HZ: u32 = 64_000_000;
/// The frame rate: the capture keeps up with 5 fps (one byte per 64 cycles).
const RATE: FrameRate = FrameRate::Fps5;
/// The longest wait for the host to configure the USB device before the first line.
const USB_WAIT_MS: u32 = 3000;
/// How long the LED shows "no USB power" at start-up.
const NO_SERIAL_MS: u32 = 2000;
/// The first line.
const BANNER: &str = "fashion-mnist-mcu: Nano 33 BLE Sense + OV7675, QQVGA 5 fps";

#[interrupt]
fn TIMER1() {
    usb::on_timer();
}

/// Lines go to the USB serial port (dropped without one); after each frame, the bytes
/// the host sent feed the serial link's listener (`camera::link`,
/// docs/serial-protocol.md), and a request is answered with that frame.
struct Serial {
    listener: link::Listener,
}

impl Console for Serial {
    fn line(&mut self, line: &str) {
        usb::print(line);
    }

    fn after_frame(&mut self, answered: &Answered<'_, '_>) {
        let mut buf = [0u8; usb::INPUT_LEN];
        let n = usb::take_input(&mut buf);
        self.listener.feed(&buf[..n]);
        if let Some(request) = self.listener.take() {
            let mut sender = link::reply(
                request,
                answered.index,
                answered.frame,
                answered.input,
                answered.verdict,
            );
            // 1 ms (64,000 cycles at 64 MHz) after each piece the port did not take;
            // TIMER1 keeps polling USB meanwhile. Bounded by the sender's SendLimits.
            let progress = link::send(&mut sender, usb::write, || cortex_m::asm::delay(64_000));
            defmt::info!("link answer frame={=u32}: {}", answered.index, progress);
        }
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
    // The crystal: USB needs it, and the counts in cycles become exact. Bounded: the
    // HAL's own start spins on the crystal for ever.
    if !clock::start_hfxo(&p.CLOCK, &mut delay, clock::HFXO_WAIT_MS) {
        panic!(
            "the 64 MHz crystal did not start in {} ms",
            clock::HFXO_WAIT_MS
        );
    }
    let clocks: &'static Clocks<ExternalOscillator, Internal, LfOscStopped> =
        cortex_m::singleton!(: Clocks<ExternalOscillator, Internal, LfOscStopped> =
            Clocks::new(p.CLOCK).enable_ext_hfosc())
        .expect("first use");
    let stopwatch = DwtStopwatch::start(&mut core.DCB, &mut core.DWT, CORE_HZ);

    // The RGB LED (red P0.24, green P0.16, blue P0.06, active low), in Signal's order.
    let port0 = p0::Parts::new(p.P0);
    let mut leds = Leds::new(
        port0.p0_16.into_push_pull_output(Level::High),
        port0.p0_24.into_push_pull_output(Level::High),
        port0.p0_06.into_push_pull_output(Level::High),
    );

    // USB serial, only with USB power; the first line once the host has configured it.
    match usb::start(p.USBD, clocks, p.TIMER1) {
        Ok(()) => {
            let ready = wait::wait_until(USB_WAIT_MS, 10, &mut delay, usb::configured);
            defmt::info!("usb configured={=bool}", ready);
            usb::print(BANNER);
        }
        Err(why) => {
            defmt::warn!("no serial port: {}", why);
            leds.show(Signal::NoSerial);
            delay.delay_ms(NO_SERIAL_MS);
            leds.show(Signal::Starting);
        }
    }

    let pins = wiring::NANO33BLE;
    let bus = camera::start(&pins, p.I2S);
    delay.delay_ms(10);
    let twim = Twim::new(
        p.TWIM0,
        twim::Pins {
            scl: port0.p0_02.into_floating_input().degrade(),
            sda: port0.p0_31.into_floating_input().degrade(),
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
    // Polls are at least 2 cycles: at most 32 million a second.
    let limits = Limits::for_rate(RATE, CORE_HZ / 2);
    let board = Board {
        sensor: Ov767x::new(twim, Sensor::Ov7675),
        rate: RATE,
        delay,
        // USB is polled in every horizontal blanking of a capture (interrupts are off).
        camera: OvCamera::new(bus, y, limits, InterruptsOff).with_hook(usb::service),
        screen: NoDisplay,
        stopwatch,
        leds,
        console: Serial {
            listener: link::Listener::new(),
        },
    };
    board.run(&model, scratch, &mut input)
}
