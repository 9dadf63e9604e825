//! The camera classification demo on the Arduino Nano 33 BLE Sense (Rev1 and Rev2)
//! with the Tiny ML Shield and its OV7675: the Arduino Tiny Machine Learning Kit.
//!
//! XCLK 16 MHz from the I2S master clock on D9, the sensor configured over SCCB (TWIM0
//! on A4/A5) for QQVGA YUV422 at 5 fps, each frame's Y plane captured over the shield's
//! parallel bus with interrupts off, then `camera::preprocess`, the int8 model, and one
//! line per frame over USB CDC-ACM serial (the Nano's own USB port: any serial
//! terminal), for example
//! `frame 12: Sneaker 87 % (capture 201 ms, classify 158 ms)`. The same lines and the
//! cycle counts go over defmt/RTT when a probe is attached. The RGB LED: green for a
//! garment, red for none, blue while the camera is failing (it is retried).
#![no_std]
#![no_main]

use core::cell::RefCell;

use cortex_m::interrupt::Mutex;
use cortex_m_rt::entry;
use defmt_rtt as _;
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::OutputPin;
use fw_common::app::{self, DwtStopwatch};
use fw_common::display::NoDisplay;
use fw_common::infer_core::IMAGE_LEN as PIXELS;
use fw_common::infer_core::Model;
use fw_common::live::OvCamera;
use fw_common::ov767x::{FrameRate, HEIGHT, Limits, Ov767x, Sensor, WIDTH};
use nrf52840_hal::clocks::{Clocks, ExternalOscillator, Internal, LfOscStopped};
use nrf52840_hal::delay::Delay;
use nrf52840_hal::gpio::{Level, p0, p1};
use nrf52840_hal::pac::{self, interrupt};
use nrf52840_hal::timer::{Periodic, Timer};
use nrf52840_hal::twim::{self, Twim};
use nrf52840_hal::usbd::{UsbPeripheral, Usbd};
use panic_probe as _;
use usb_device::bus::UsbBusAllocator;
use usb_device::device::{StringDescriptors, UsbDevice, UsbDeviceBuilder, UsbVidPid};
use usbd_serial::SerialPort;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/assets.rs"));
}

mod nrf {
    include!("../../nrf-shared.rs");
}

/// Core clock.
const CORE_HZ: u32 = 64_000_000;
/// The frame rate: the capture keeps up with 5 fps (one byte per 64 cycles).
const RATE: FrameRate = FrameRate::Fps5;
/// Camera faults in a row after which the sensor is configured afresh.
const REINIT_AFTER: u32 = 3;

// The shield's camera pins (Arduino_OV767X's Nano 33 BLE mapping, the nRF pins from the
// Nano 33 BLE variant): VSYNC D8 = P0.21, HREF A1 = P0.05, PCLK A0 = P0.04,
// XCLK D9 = P0.27, SDA A4 = P0.31, SCL A5 = P0.02, D0..D7 on P1.
const VSYNC: u32 = 21;
const HREF: u32 = 5;
const PCLK: u32 = 4;
const XCLK: u8 = 27;

/// D0..D7 from P1.IN: D0 = P1.02, D1 = P1.03, D2..D7 = P1.10..P1.15 (see
/// firmware/README.md: the order of the data lines is to be confirmed on a board).
#[inline(always)]
fn shield_data(p1: u32) -> u8 {
    (((p1 >> 2) & 0x03) | ((p1 >> 8) & 0xFC)) as u8
}

type UsbBus = Usbd<UsbPeripheral<'static>>;

/// The USB device and its serial port, polled from TIMER1's interrupt (1 kHz) so that
/// the host is answered while the model runs (not during a capture: interrupts off).
static USB: Mutex<RefCell<Option<Usb>>> = Mutex::new(RefCell::new(None));

/// The USB device and the CDC-ACM class on it.
type Usb = (UsbDevice<'static, UsbBus>, SerialPort<'static, UsbBus>);
static POLL: Mutex<RefCell<Option<Timer<pac::TIMER1, Periodic>>>> = Mutex::new(RefCell::new(None));

#[interrupt]
fn TIMER1() {
    cortex_m::interrupt::free(|cs| {
        if let Some(t) = POLL.borrow(cs).borrow().as_ref() {
            t.reset_event();
        }
        if let Some((dev, serial)) = USB.borrow(cs).borrow_mut().as_mut()
            && dev.poll(&mut [serial])
        {
            // Input is ignored (but read, so that the host is not stalled).
            let mut sink = [0u8; 64];
            let _ = serial.read(&mut sink);
        }
    });
}

/// Writes `line` and CR LF to the serial port; drops what does not fit (no terminal
/// open, or a slow one) rather than block.
fn print(line: &str) {
    cortex_m::interrupt::free(|cs| {
        if let Some((_, serial)) = USB.borrow(cs).borrow_mut().as_mut() {
            for part in [line.as_bytes(), b"\r\n"] {
                let mut rest = part;
                while !rest.is_empty() {
                    match serial.write(rest) {
                        Ok(n) if n > 0 => rest = &rest[n..],
                        _ => break,
                    }
                }
            }
        }
    });
}

/// The RGB LED (active low): green garment, red none, blue camera fault.
struct Rgb {
    red: p0::P0_24<nrf52840_hal::gpio::Output<nrf52840_hal::gpio::PushPull>>,
    green: p0::P0_16<nrf52840_hal::gpio::Output<nrf52840_hal::gpio::PushPull>>,
    blue: p0::P0_06<nrf52840_hal::gpio::Output<nrf52840_hal::gpio::PushPull>>,
}

impl Rgb {
    fn show(&mut self, red: bool, green: bool, blue: bool) {
        // Infallible pins; active low.
        let set = |on: bool, pin: &mut dyn OutputPin<Error = core::convert::Infallible>| {
            let _ = if on { pin.set_low() } else { pin.set_high() };
        };
        set(red, &mut self.red);
        set(green, &mut self.green);
        set(blue, &mut self.blue);
    }
}

/// Configures the sensor until it answers, reporting every failure on the serial line.
fn bring_up(sensor: &mut Ov767x<Twim<pac::TWIM0>>, delay: &mut Delay, led: &mut Rgb, index: u32) {
    loop {
        match sensor.init(RATE, delay) {
            Ok(id) => {
                defmt::info!("camera {} ready: {}", sensor.sensor(), id);
                return;
            }
            Err(e) => {
                led.show(false, false, true);
                print(fw_common::live::fault_line(index, &e).as_str());
                defmt::warn!("camera init: {}", e);
                delay.delay_ms(1000);
            }
        }
    }
}

#[entry]
fn main() -> ! {
    let (Some(mut core), Some(p)) = (cortex_m::Peripherals::take(), pac::Peripherals::take())
    else {
        panic!("peripherals taken twice");
    };
    // The crystal: USB needs it, and the counts in cycles become exact.
    let clocks: &'static Clocks<ExternalOscillator, Internal, LfOscStopped> =
        cortex_m::singleton!(: Clocks<ExternalOscillator, Internal, LfOscStopped> =
            Clocks::new(p.CLOCK).enable_ext_hfosc())
        .expect("first use");
    let mut stopwatch = DwtStopwatch::start(&mut core.DCB, &mut core.DWT, CORE_HZ);
    let mut delay = Delay::new(core.SYST);

    // USB CDC-ACM serial, polled at 1 kHz.
    let usb_bus: &'static UsbBusAllocator<UsbBus> = cortex_m::singleton!(
        : UsbBusAllocator<UsbBus> = UsbBusAllocator::new(Usbd::new(UsbPeripheral::new(p.USBD, clocks))))
    .expect("first use");
    let serial = SerialPort::new(usb_bus);
    // pid.codes' test VID/PID (0x1209/0x0001): for development, not for products.
    let Ok(builder) = UsbDeviceBuilder::new(usb_bus, UsbVidPid(0x1209, 0x0001)).strings(&[
        StringDescriptors::default()
            .manufacturer("fashion-mnist-mcu")
            .product("Tiny ML Kit classifier")
            .serial_number("0001"),
    ]) else {
        panic!("USB strings");
    };
    let usb_dev = builder.device_class(usbd_serial::USB_CLASS_CDC).build();
    let mut timer = Timer::periodic(p.TIMER1);
    timer.enable_interrupt();
    timer.start(1_000u32); // 1 MHz timer: 1 ms
    cortex_m::interrupt::free(|cs| {
        USB.borrow(cs).replace(Some((usb_dev, serial)));
        POLL.borrow(cs).replace(Some(timer));
    });
    // SAFETY: the handler only touches state behind the `Mutex`es above.
    unsafe { pac::NVIC::unmask(pac::Interrupt::TIMER1) };

    let port0 = p0::Parts::new(p.P0);
    let port1 = p1::Parts::new(p.P1);
    let mut led = Rgb {
        red: port0.p0_24.into_push_pull_output(Level::High),
        green: port0.p0_16.into_push_pull_output(Level::High),
        blue: port0.p0_06.into_push_pull_output(Level::High),
    };
    // Inputs of the parallel bus (connecting their input buffers).
    let _bus_pins = (
        port0.p0_21.into_floating_input(),
        port0.p0_05.into_floating_input(),
        port0.p0_04.into_floating_input(),
        port1.p1_02.into_floating_input(),
        port1.p1_03.into_floating_input(),
        port1.p1_10.into_floating_input(),
        port1.p1_11.into_floating_input(),
        port1.p1_12.into_floating_input(),
        port1.p1_13.into_floating_input(),
        port1.p1_14.into_floating_input(),
        port1.p1_15.into_floating_input(),
    );
    nrf::start_xclk(&p.I2S, XCLK);
    delay.delay_ms(10);
    let twim = Twim::new(
        p.TWIM0,
        twim::Pins {
            scl: port0.p0_02.into_floating_input().degrade(),
            sda: port0.p0_31.into_floating_input().degrade(),
        },
        twim::Frequency::K100,
    );
    let mut sensor = Ov767x::new(twim, Sensor::Ov7675);
    // Time for the host to enumerate the port before the first line.
    delay.delay_ms(1500);
    print("fashion-mnist-mcu: Nano 33 BLE Sense + OV7675, QQVGA 5 fps");
    bring_up(&mut sensor, &mut delay, &mut led, 0);

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
        data: shield_data,
    };
    // Polls are at least 2 cycles: at most 32 million a second.
    let limits = Limits::for_rate(RATE, CORE_HZ / 2);
    let mut camera = OvCamera::new(bus, y, limits, nrf::InterruptsOff);
    let mut faults = 0u32;
    let mut index = 0u32;
    loop {
        let frame = match app::live_frame(
            &model,
            index,
            &mut camera,
            &mut NoDisplay,
            &mut stopwatch,
            scratch,
            &mut input,
        ) {
            Ok(f) => f,
            Err(never) => match never {},
        };
        print(frame.line.as_str());
        match frame.garment {
            Some(g) => {
                faults = 0;
                led.show(!g, g, false);
            }
            None => {
                faults += 1;
                led.show(false, false, true);
                if faults >= REINIT_AFTER {
                    faults = 0;
                    bring_up(&mut sensor, &mut delay, &mut led, index);
                }
            }
        }
        index = index.wrapping_add(1);
    }
}
