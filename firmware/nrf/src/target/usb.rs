//! USB CDC-ACM serial on the Nano 33 BLE: built only when VBUS is present, serviced
//! from TIMER1's interrupt (1 kHz) and between the lines of a capture, the 1200-baud
//! touch honoured.
//!
//! - usb-device asks for `poll` at least every 10 ms. A capture holds interrupts off for
//!   a whole frame (~200 ms), so the app calls [`service`] in every horizontal
//!   blanking (HREF is low ≈ 1.3 ms between lines at QQVGA 5 fps) as well as from the
//!   timer.
//! - Building the device enables the USBD, and nrf-usbd's `enable` spins until the
//!   peripheral is ready, which needs VBUS (tinyusb#2387 saw the same loop): [`start`]
//!   checks POWER.USBREGSTATUS.VBUSDETECT first and builds nothing without it.
//! - Bytes the host sends are kept (up to [`INPUT_LEN`]) for [`take_input`].

use core::cell::RefCell;

use cortex_m::interrupt::Mutex;
use nrf52840_hal::clocks::{Clocks, ExternalOscillator};
use nrf52840_hal::pac;
use nrf52840_hal::timer::{Periodic, Timer};
use nrf52840_hal::usbd::{UsbPeripheral, Usbd};
use usb_device::bus::UsbBusAllocator;
use usb_device::device::{
    StringDescriptors, UsbDevice, UsbDeviceBuilder, UsbDeviceState, UsbVidPid,
};
use usbd_serial::SerialPort;

use crate::regs;
use crate::target::mmio;
use crate::touch::{HOLD_MS, Touch};

type Bus = Usbd<UsbPeripheral<'static>>;

/// Bytes from the host kept between two [`take_input`] calls; more are dropped.
pub const INPUT_LEN: usize = 256;

/// Core cycles per millisecond (64 MHz): the touch's clock is the DWT cycle counter.
const CYCLES_PER_MS: u32 = 64_000;

/// The device, its serial port, the touch detector and the host's bytes.
struct Usb {
    dev: UsbDevice<'static, Bus>,
    port: SerialPort<'static, Bus>,
    touch: Touch,
    input: heapless::Deque<u8, INPUT_LEN>,
    dropped: u32,
}

static USB: Mutex<RefCell<Option<Usb>>> = Mutex::new(RefCell::new(None));
static TIMER: Mutex<RefCell<Option<Timer<pac::TIMER1, Periodic>>>> = Mutex::new(RefCell::new(None));

/// Why there is no serial port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, defmt::Format)]
pub enum NoSerial {
    /// No USB power (VBUS) at start-up: the board runs from VIN or a battery.
    NoVbus,
}

/// True when USB power is present (POWER.USBREGSTATUS.VBUSDETECT, nRF52840 PS, POWER
/// "USBREGSTATUS").
pub fn vbus() -> bool {
    mmio::read(regs::POWER_USBREGSTATUS) & 1 != 0
}

/// Builds the USB device and its CDC-ACM port if VBUS is present, and starts TIMER1 to
/// service it at 1 kHz. The app's `TIMER1` interrupt handler must call [`on_timer`].
/// The HFXO must run (`clocks`), and the DWT cycle counter (the touch's clock: start
/// `fw_common::app::DwtStopwatch` first).
pub fn start<L, S>(
    usbd: pac::USBD,
    clocks: &'static Clocks<ExternalOscillator, L, S>,
    timer: pac::TIMER1,
) -> Result<(), NoSerial> {
    if !vbus() {
        return Err(NoSerial::NoVbus);
    }
    let bus: &'static UsbBusAllocator<Bus> = cortex_m::singleton!(
        : UsbBusAllocator<Bus> = UsbBusAllocator::new(Usbd::new(UsbPeripheral::new(usbd, clocks))))
    .expect("usb::start runs once");
    let port = SerialPort::new(bus);
    // pid.codes' test VID/PID (0x1209/0x0001): for development, not for products.
    let dev = UsbDeviceBuilder::new(bus, UsbVidPid(0x1209, 0x0001))
        .strings(&[StringDescriptors::default()
            .manufacturer("fashion-mnist-mcu")
            .product("Tiny ML Kit classifier")
            .serial_number("0001")])
        .expect("one language")
        .device_class(usbd_serial::USB_CLASS_CDC)
        .build();
    let mut timer = Timer::periodic(timer);
    timer.enable_interrupt();
    timer.start(1_000u32); // a 1 MHz timer: every 1 ms
    cortex_m::interrupt::free(|cs| {
        USB.borrow(cs).replace(Some(Usb {
            dev,
            port,
            touch: Touch::new(HOLD_MS * CYCLES_PER_MS),
            input: heapless::Deque::new(),
            dropped: 0,
        }));
        TIMER.borrow(cs).replace(Some(timer));
    });
    // SAFETY: the handler (`on_timer`) only touches state behind the `Mutex`es above.
    unsafe { pac::NVIC::unmask(pac::Interrupt::TIMER1) };
    Ok(())
}

/// The body of the app's `TIMER1` interrupt handler: clears the timer's event and
/// [`service`]s USB.
pub fn on_timer() {
    cortex_m::interrupt::free(|cs| {
        if let Some(t) = TIMER.borrow(cs).borrow().as_ref() {
            t.reset_event();
        }
    });
    service();
}

/// Polls the USB device once: answers the host, keeps the bytes it sent, and restarts
/// into the bootloader on a 1200-baud touch. Short (microseconds): call it from the
/// timer and between capture lines. Does nothing without a serial port.
pub fn service() {
    let enter = cortex_m::interrupt::free(|cs| {
        let mut usb = USB.borrow(cs).borrow_mut();
        let Some(usb) = usb.as_mut() else {
            return false;
        };
        if usb.dev.poll(&mut [&mut usb.port]) {
            let mut buf = [0u8; 64];
            if let Ok(n) = usb.port.read(&mut buf) {
                for &b in &buf[..n] {
                    if usb.input.push_back(b).is_err() {
                        usb.dropped = usb.dropped.wrapping_add(1);
                    }
                }
            }
        }
        let baud = usb.port.line_coding().data_rate();
        let dtr = usb.port.dtr();
        usb.touch
            .update(baud, dtr, cortex_m::peripheral::DWT::cycle_count())
    });
    if enter {
        mmio::enter_bootloader();
    }
}

/// True once the host has configured the device (the port can carry data).
pub fn configured() -> bool {
    cortex_m::interrupt::free(|cs| {
        USB.borrow(cs)
            .borrow()
            .as_ref()
            .is_some_and(|u| u.dev.state() == UsbDeviceState::Configured)
    })
}

/// Moves the bytes the host sent (since the last call) into `buf`; returns how many.
pub fn take_input(buf: &mut [u8]) -> usize {
    cortex_m::interrupt::free(|cs| {
        let mut usb = USB.borrow(cs).borrow_mut();
        let Some(usb) = usb.as_mut() else {
            return 0;
        };
        let mut n = 0;
        while n < buf.len() {
            match usb.input.pop_front() {
                Some(b) => {
                    buf[n] = b;
                    n += 1;
                }
                None => break,
            }
        }
        n
    })
}

/// Writes `bytes` to the serial port as far as it takes them now; drops the rest (no
/// terminal open, or a slow one) rather than block. Returns the bytes taken.
pub fn write(bytes: &[u8]) -> usize {
    cortex_m::interrupt::free(|cs| {
        let mut usb = USB.borrow(cs).borrow_mut();
        let Some(usb) = usb.as_mut() else {
            return 0;
        };
        let mut rest = bytes;
        while !rest.is_empty() {
            match usb.port.write(rest) {
                Ok(n) if n > 0 => rest = &rest[n..],
                _ => break,
            }
        }
        bytes.len() - rest.len()
    })
}

/// Writes `line` and CR LF ([`write()`]: what does not fit is dropped).
pub fn print(line: &str) {
    write(line.as_bytes());
    write(b"\r\n");
}
