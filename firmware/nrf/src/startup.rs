//! The start-up of both board apps as register plans ([`crate::plan`]): what the
//! Arduino bootloader leaves running is stopped, the instruction cache is on, and the
//! camera's clock pin and bus pins are configured — whatever started the app (the
//! Arduino bootloader, another loader, or SWD after a reset).
//!
//! Sources, named on every step: the nRF52840 Product Specification v1.7 (PS),
//! ArduinoCore-mbed `variants/ARDUINO_NANO33BLE/variant.cpp` `initVariant` (what an
//! Arduino sketch undoes of the bootloader's state), the stock bootloader's ELF
//! (`bootloaders/nano33ble/bootloader.elf`, disassembled: see
//! /work/shared/notes/board.md), Arduino_OV767X `OV767X.cpp` and Nordic's
//! `nrfx_i2s.c`. None of this has run on a board here.

use crate::plan::Step;
use crate::regs::{self, Port};

/// Reads of UARTE0.EVENTS_RXTO before giving up: the receiver stops within a few
/// bytes' time after STOPRX (PS, UARTE "Stopping the receiver"); when the UARTE was
/// never started (SWD, the DK) the event never comes and the wait ends here, well
/// under 10 ms at 64 MHz (a poll is a few cycles).
pub const RXTO_POLLS: u32 = 50_000;

/// Every interrupt enable bit of the RTC (TICK, OVRFLW, COMPARE0..3: PS, RTC "INTEN").
const RTC_ALL: u32 = 0x000F_0003;
/// Every interrupt enable bit of the UARTE (CTS, NCTS, RXDRDY, ENDRX, TXDRDY, ENDTX,
/// ERROR, RXTO, RXSTARTED, TXSTARTED, TXSTOPPED: PS, UARTE "INTEN").
const UARTE_ALL: u32 = 0x005A_0397;
/// PSEL value "disconnected" (bit 31 CONNECT = 1, PS, UARTE "PSEL.*").
const DISCONNECTED: u32 = 0xFFFF_FFFF;
/// One bit per interrupt in an NVIC clear register (writing 0 bits has no effect).
const ALL_IRQS: u32 = 0xFFFF_FFFF;

/// The clean start, in order. Run it first thing in `main`.
pub const CLEAN_START: [Step; 21] = [
    // The instruction cache: the stock bootloader turns it on before jumping to the
    // app; an app flashed over SWD (and the DK's) starts with it off, which costs flash
    // wait states in the byte-polling capture.
    Step::write(
        regs::NVMC_ICACHECNF,
        1,
        "PS NVMC ICACHECNF: CACHEEN = 1; the stock bootloader does the same",
    ),
    // SWO (P1.00) is the Nano's I2C pull-up switch: no trace routed to the pin.
    Step::write(
        regs::CLOCK_TRACECONFIG,
        0,
        "variant.cpp initVariant: NRF_CLOCK->TRACECONFIG = 0 (SWO pin P1.00 drives the I2C pull-ups)",
    ),
    // RTC1: the bootloader leaves its COMPARE0 interrupt on.
    Step::write(
        regs::RTC1_INTENCLR,
        RTC_ALL,
        "variant.cpp initVariant: nrf_rtc_int_disable(RTC1, COMPARE0), here all of RTC1's",
    ),
    Step::write(
        regs::RTC1_EVTENCLR,
        RTC_ALL,
        "variant.cpp initVariant: nrf_rtc_event_disable(RTC1, COMPARE0), here all of RTC1's",
    ),
    Step::write(regs::RTC1_TASKS_STOP, 1, "PS RTC TASKS_STOP"),
    Step::write(
        regs::RTC1_EVENTS_COMPARE0,
        0,
        "PS RTC EVENTS_COMPARE[0]: cleared",
    ),
    // UARTE0: the bootloader leaves it enabled, its receiver running; the Nano's TX/RX
    // pins (P1.03, P1.10) are camera data lines.
    Step::write(
        regs::UARTE0_INTENCLR,
        UARTE_ALL,
        "PS UARTE INTENCLR: no UARTE0 interrupt",
    ),
    Step::write(
        regs::UARTE0_EVENTS_RXTO,
        0,
        "PS UARTE EVENTS_RXTO: cleared before the stop",
    ),
    Step::write(
        regs::UARTE0_TASKS_STOPRX,
        1,
        "variant.cpp initVariant: nrf_uarte_task_trigger(UARTE0, STOPRX)",
    ),
    Step::wait(
        regs::UARTE0_EVENTS_RXTO,
        RXTO_POLLS,
        "variant.cpp initVariant: wait for RXTO (unbounded there, bounded here)",
    ),
    Step::write(
        regs::UARTE0_TASKS_STOPTX,
        1,
        "PS UARTE: stop the transmitter before disabling",
    ),
    Step::write(
        regs::UARTE0_ENABLE,
        0,
        "variant.cpp initVariant: NRF_UARTE0->ENABLE = 0; NRF_UART0->ENABLE = 0 (one register)",
    ),
    Step::write(
        regs::UARTE0_PSEL_RTS,
        DISCONNECTED,
        "PS UARTE PSEL.RTS: disconnected",
    ),
    Step::write(
        regs::UARTE0_PSEL_TXD,
        DISCONNECTED,
        "PS UARTE PSEL.TXD: disconnected (Nano: P1.03, camera D1)",
    ),
    Step::write(
        regs::UARTE0_PSEL_CTS,
        DISCONNECTED,
        "PS UARTE PSEL.CTS: disconnected",
    ),
    Step::write(
        regs::UARTE0_PSEL_RXD,
        DISCONNECTED,
        "PS UARTE PSEL.RXD: disconnected (Nano: P1.10, camera D2)",
    ),
    Step::write(regs::UARTE0_EVENTS_RXTO, 0, "PS UARTE EVENTS_RXTO: cleared"),
    // The NVIC: nothing the loader enabled or left pending fires in this app.
    Step::write(
        regs::NVIC_ICER[0],
        ALL_IRQS,
        "ARMv7-M ARM NVIC ICER0: IRQ 0-31 disabled (the stock bootloader does it too)",
    ),
    Step::write(
        regs::NVIC_ICER[1],
        ALL_IRQS,
        "ARMv7-M ARM NVIC ICER1: IRQ 32-63 disabled",
    ),
    Step::write(
        regs::NVIC_ICPR[0],
        ALL_IRQS,
        "ARMv7-M ARM NVIC ICPR0: nothing pending",
    ),
    Step::write(
        regs::NVIC_ICPR[1],
        ALL_IRQS,
        "ARMv7-M ARM NVIC ICPR1: nothing pending",
    ),
];

/// GPIO PIN_CNF "output, input buffer disconnected, no pull, standard drive"
/// (DIR = 1, INPUT = 1: PS, GPIO "PIN_CNF\[n\]").
pub const PIN_OUTPUT: u32 = 0b11;
/// GPIO PIN_CNF "input, input buffer connected, no pull" (all fields 0).
pub const PIN_INPUT: u32 = 0;
/// I2S CONFIG.MCKFREQ = 32MDIV2: MCK 16 MHz (PS, I2S "CONFIG.MCKFREQ"; the value as
/// the nRF52840 PAC names it).
pub const MCKFREQ_32MDIV2: u32 = 0x8000_0000;

/// XCLK: 16 MHz on P0.`pin` from the I2S master clock. The pin is made an output first,
/// as Arduino_OV767X does (`pinMode(xclk, OUTPUT)` before starting the clock) and
/// nrfx_i2s does for MCK; without XCLK the sensor does not answer on SCCB. Neither
/// nrf52840-hal nor embassy-nrf exposes the MCK divider, hence a plan. The I2S only
/// generates MCK; it moves no data (RXEN stays off).
pub const fn xclk(pin: u8) -> [Step; 7] {
    [
        Step::write(
            regs::pin_cnf(Port::P0, pin),
            PIN_OUTPUT,
            "OV767X.cpp pinMode(xclk, OUTPUT); nrfx_i2s: MCK always an output",
        ),
        Step::write(regs::I2S_CONFIG_MODE, 0, "PS I2S CONFIG.MODE = Master"),
        Step::write(
            regs::I2S_CONFIG_MCKFREQ,
            MCKFREQ_32MDIV2,
            "PS I2S CONFIG.MCKFREQ = 32MDIV2: 16 MHz",
        ),
        Step::write(regs::I2S_CONFIG_MCKEN, 1, "PS I2S CONFIG.MCKEN = Enabled"),
        Step::write(
            regs::I2S_PSEL_MCK,
            pin as u32 & 0x1F,
            "PS I2S PSEL.MCK: P0.pin, connected (bit 31 = 0)",
        ),
        Step::write(regs::I2S_ENABLE, 1, "PS I2S ENABLE"),
        Step::write(
            regs::I2S_TASKS_START,
            1,
            "PS I2S TASKS_START: starts the MCK generator",
        ),
    ]
}

/// The camera's parallel bus as inputs with their input buffers connected (no pull):
/// VSYNC, HREF and PCLK on P0, D0..D7 on P1 (`wiring::CameraPins`).
pub const fn camera_inputs(pins: &crate::wiring::CameraPins) -> [Step; 11] {
    const WHY: &str =
        "PS GPIO PIN_CNF: input, buffer connected (the capture reads P0.IN and P1.IN)";
    let d = &pins.data;
    [
        Step::write(regs::pin_cnf(Port::P0, pins.vsync), PIN_INPUT, WHY),
        Step::write(regs::pin_cnf(Port::P0, pins.href), PIN_INPUT, WHY),
        Step::write(regs::pin_cnf(Port::P0, pins.pclk), PIN_INPUT, WHY),
        Step::write(regs::pin_cnf(Port::P1, d[0]), PIN_INPUT, WHY),
        Step::write(regs::pin_cnf(Port::P1, d[1]), PIN_INPUT, WHY),
        Step::write(regs::pin_cnf(Port::P1, d[2]), PIN_INPUT, WHY),
        Step::write(regs::pin_cnf(Port::P1, d[3]), PIN_INPUT, WHY),
        Step::write(regs::pin_cnf(Port::P1, d[4]), PIN_INPUT, WHY),
        Step::write(regs::pin_cnf(Port::P1, d[5]), PIN_INPUT, WHY),
        Step::write(regs::pin_cnf(Port::P1, d[6]), PIN_INPUT, WHY),
        Step::write(regs::pin_cnf(Port::P1, d[7]), PIN_INPUT, WHY),
    ]
}

/// The value in GPREGRET that makes the Arduino bootloader stay: `DFU_MAGIC_SERIAL_ONLY_RESET`
/// (ArduinoCore-mbed `variants/ARDUINO_NANO33BLE/pins_arduino.h`: 0xb0).
pub const GPREGRET_BOOTLOADER: u32 = 0xB0;

/// The register half of "enter the bootloader": GPREGRET = 0xB0 (kept through a system
/// reset: PS, POWER "GPREGRET"); the caller has turned interrupts off and resets next
/// (`target::mmio::enter_bootloader`).
pub const ENTER_BOOTLOADER: [Step; 1] = [Step::write(
    regs::POWER_GPREGRET,
    GPREGRET_BOOTLOADER,
    "variant.cpp _ontouch1200bps_: __disable_irq(); NRF_POWER->GPREGRET = DFU_MAGIC_SERIAL_ONLY_RESET; NVIC_SystemReset()",
)];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fake::{Access, Recorder};
    use crate::plan::{Op, Outcome, run};
    use crate::wiring;

    /// The writes of the clean start, in order, as (register name, value).
    fn clean_start_writes(regs: &mut Recorder) -> std::vec::Vec<(&'static str, u32)> {
        run(&CLEAN_START, regs);
        let names: std::collections::HashMap<u32, &str> = CLEAN_START
            .iter()
            .map(|s| (s.reg().addr, s.reg().name))
            .collect();
        regs.writes()
            .into_iter()
            .map(|(a, v)| (names[&a], v))
            .collect()
    }

    #[test]
    fn the_clean_start_writes_exactly_this() {
        let mut regs = Recorder {
            fires: std::vec![(regs::UARTE0_EVENTS_RXTO.addr, 3, 1)],
            ..Recorder::default()
        };
        assert_eq!(
            clean_start_writes(&mut regs),
            [
                ("NVMC.ICACHECNF", 1),
                ("CLOCK.TRACECONFIG", 0),
                ("RTC1.INTENCLR", 0x000F_0003),
                ("RTC1.EVTENCLR", 0x000F_0003),
                ("RTC1.TASKS_STOP", 1),
                ("RTC1.EVENTS_COMPARE[0]", 0),
                ("UARTE0.INTENCLR", 0x005A_0397),
                ("UARTE0.EVENTS_RXTO", 0),
                ("UARTE0.TASKS_STOPRX", 1),
                ("UARTE0.TASKS_STOPTX", 1),
                ("UARTE0.ENABLE", 0),
                ("UARTE0.PSEL.RTS", 0xFFFF_FFFF),
                ("UARTE0.PSEL.TXD", 0xFFFF_FFFF),
                ("UARTE0.PSEL.CTS", 0xFFFF_FFFF),
                ("UARTE0.PSEL.RXD", 0xFFFF_FFFF),
                ("UARTE0.EVENTS_RXTO", 0),
                ("NVIC.ICER0", 0xFFFF_FFFF),
                ("NVIC.ICER1", 0xFFFF_FFFF),
                ("NVIC.ICPR0", 0xFFFF_FFFF),
                ("NVIC.ICPR1", 0xFFFF_FFFF),
            ]
        );
    }

    #[test]
    fn the_receiver_is_stopped_before_the_uarte_is_disabled() {
        // The RXTO wait sits between STOPRX and ENABLE = 0, as in variant.cpp.
        let mut regs = Recorder {
            fires: std::vec![(regs::UARTE0_EVENTS_RXTO.addr, 2, 1)],
            ..Recorder::default()
        };
        let outcome = run(&CLEAN_START, &mut regs);
        assert_eq!(outcome.waits_timed_out, 0);
        let pos = |a: Access| regs.log.iter().position(|x| *x == a).unwrap();
        let stop = pos(Access::Write(regs::UARTE0_TASKS_STOPRX.addr, 1));
        let first_read = pos(Access::Read(regs::UARTE0_EVENTS_RXTO.addr));
        let disable = pos(Access::Write(regs::UARTE0_ENABLE.addr, 0));
        assert!(stop < first_read && first_read < disable);
        assert_eq!(regs.reads(regs::UARTE0_EVENTS_RXTO.addr), 3);
    }

    #[test]
    fn without_a_running_uarte_the_clean_start_still_ends() {
        // SWD or the DK: the UARTE was never started, RXTO never comes.
        let mut regs = Recorder::default();
        let outcome = run(&CLEAN_START, &mut regs);
        assert_eq!(
            outcome,
            Outcome {
                writes: 20,
                waits_timed_out: 1
            }
        );
        assert_eq!(
            regs.reads(regs::UARTE0_EVENTS_RXTO.addr),
            RXTO_POLLS as usize
        );
    }

    #[test]
    fn every_step_names_its_source() {
        let all = CLEAN_START
            .into_iter()
            .chain(xclk(27))
            .chain(camera_inputs(&wiring::NANO33BLE))
            .chain(ENTER_BOOTLOADER);
        for step in all {
            let s = step.source();
            assert!(
                s.starts_with("PS ")
                    || s.starts_with("variant.cpp")
                    || s.starts_with("ARMv7-M")
                    || s.starts_with("OV767X.cpp"),
                "{}: {s}",
                step.reg().name
            );
        }
    }

    #[test]
    fn xclk_makes_its_pin_an_output_before_the_clock_starts() {
        for (pin, cnf) in [(27u8, 0x5000_076C), (29, 0x5000_0774)] {
            let mut regs = Recorder::default();
            run(&xclk(pin), &mut regs);
            assert_eq!(
                regs.writes(),
                [
                    (cnf, 0b11),
                    (regs::I2S_CONFIG_MODE.addr, 0),
                    (regs::I2S_CONFIG_MCKFREQ.addr, 0x8000_0000),
                    (regs::I2S_CONFIG_MCKEN.addr, 1),
                    (regs::I2S_PSEL_MCK.addr, u32::from(pin)),
                    (regs::I2S_ENABLE.addr, 1),
                    (regs::I2S_TASKS_START.addr, 1),
                ],
                "pin {pin}"
            );
        }
    }

    #[test]
    fn mckfreq_is_the_pacs_32mdiv2() {
        use nrf52840_pac::i2s::config::mckfreq::MCKFREQ_A;
        assert_eq!(MCKFREQ_32MDIV2, MCKFREQ_A::_32MDIV2 as u32);
    }

    #[test]
    fn the_camera_bus_pins_become_connected_inputs() {
        let mut regs = Recorder::default();
        run(&camera_inputs(&wiring::NANO33BLE), &mut regs);
        let p0 = |n: u32| 0x5000_0700 + 4 * n;
        let p1 = |n: u32| 0x5000_0A00 + 4 * n;
        assert_eq!(
            regs.writes(),
            [
                (p0(21), 0),
                (p0(5), 0),
                (p0(4), 0),
                (p1(2), 0),
                (p1(3), 0),
                (p1(10), 0),
                (p1(11), 0),
                (p1(12), 0),
                (p1(13), 0),
                (p1(14), 0),
                (p1(15), 0),
            ]
        );
    }

    #[test]
    fn entering_the_bootloader_writes_0xb0_to_gpregret() {
        let mut regs = Recorder::default();
        run(&ENTER_BOOTLOADER, &mut regs);
        assert_eq!(regs.writes(), [(0x4000_051C, 0xB0)]);
    }

    #[test]
    fn only_the_rxto_step_waits() {
        let waits: std::vec::Vec<_> = CLEAN_START
            .iter()
            .filter(|s| matches!(s.op(), Op::WaitNonZero { .. }))
            .map(|s| s.reg().name)
            .collect();
        assert_eq!(waits, ["UARTE0.EVENTS_RXTO"]);
    }
}
