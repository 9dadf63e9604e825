//! The nRF52840 and Cortex-M4 registers the plans write, as plain addresses.
//!
//! Addresses: base addresses from the nRF52840 Product Specification v1.7, the
//! "Instantiation" table of its memory chapter, register offsets from each
//! peripheral's "Registers" table; the NVIC's from the ARMv7-M Architecture Reference
//! Manual (the NVIC chapter). `tests` checks every one against the nRF52840 PAC (generated from
//! Nordic's SVD file) and the NVIC's against the `cortex-m` crate's layout.

use crate::plan::Reg;

const fn reg(addr: u32, name: &'static str) -> Reg {
    Reg { addr, name }
}

/// CLOCK and POWER share the instance at 0x4000_0000 (PS, "Instantiation": one ID).
const CLOCK: u32 = 0x4000_0000;
/// UARTE0 and the legacy UART0 share the instance at 0x4000_2000 (PS, "Instantiation":
/// one ID, one set of registers; only one of them can be enabled at a time).
const UARTE0: u32 = 0x4000_2000;
const RTC1: u32 = 0x4001_1000;
const NVMC: u32 = 0x4001_E000;
const I2S: u32 = 0x4002_5000;
const P0: u32 = 0x5000_0000;
const P1: u32 = 0x5000_0300;

/// CLOCK.TRACECONFIG (PS, CLOCK "Registers", offset 0x55C).
pub const CLOCK_TRACECONFIG: Reg = reg(CLOCK + 0x55C, "CLOCK.TRACECONFIG");
/// POWER.GPREGRET, general purpose retention register (PS, POWER "Registers",
/// offset 0x51C): kept through a system reset, read by the bootloader.
pub const POWER_GPREGRET: Reg = reg(CLOCK + 0x51C, "POWER.GPREGRET");
/// POWER.USBREGSTATUS (offset 0x438): bit 0 VBUSDETECT.
pub const POWER_USBREGSTATUS: Reg = reg(CLOCK + 0x438, "POWER.USBREGSTATUS");

/// UARTE0.TASKS_STOPRX (PS, UARTE "Registers", offset 0x004).
pub const UARTE0_TASKS_STOPRX: Reg = reg(UARTE0 + 0x004, "UARTE0.TASKS_STOPRX");
/// UARTE0.TASKS_STOPTX (offset 0x00C).
pub const UARTE0_TASKS_STOPTX: Reg = reg(UARTE0 + 0x00C, "UARTE0.TASKS_STOPTX");
/// UARTE0.EVENTS_RXTO, receiver timeout, the end of a STOPRX (offset 0x144).
pub const UARTE0_EVENTS_RXTO: Reg = reg(UARTE0 + 0x144, "UARTE0.EVENTS_RXTO");
/// UARTE0.INTENCLR (offset 0x308).
pub const UARTE0_INTENCLR: Reg = reg(UARTE0 + 0x308, "UARTE0.INTENCLR");
/// UARTE0.ENABLE (offset 0x500; UART0.ENABLE is the same register).
pub const UARTE0_ENABLE: Reg = reg(UARTE0 + 0x500, "UARTE0.ENABLE");
/// UARTE0.PSEL.RTS (offset 0x508).
pub const UARTE0_PSEL_RTS: Reg = reg(UARTE0 + 0x508, "UARTE0.PSEL.RTS");
/// UARTE0.PSEL.TXD (offset 0x50C).
pub const UARTE0_PSEL_TXD: Reg = reg(UARTE0 + 0x50C, "UARTE0.PSEL.TXD");
/// UARTE0.PSEL.CTS (offset 0x510).
pub const UARTE0_PSEL_CTS: Reg = reg(UARTE0 + 0x510, "UARTE0.PSEL.CTS");
/// UARTE0.PSEL.RXD (offset 0x514).
pub const UARTE0_PSEL_RXD: Reg = reg(UARTE0 + 0x514, "UARTE0.PSEL.RXD");

/// RTC1.TASKS_STOP (PS, RTC "Registers", offset 0x004).
pub const RTC1_TASKS_STOP: Reg = reg(RTC1 + 0x004, "RTC1.TASKS_STOP");
/// RTC1.EVENTS_COMPARE\[0\] (offset 0x140).
pub const RTC1_EVENTS_COMPARE0: Reg = reg(RTC1 + 0x140, "RTC1.EVENTS_COMPARE[0]");
/// RTC1.INTENCLR (offset 0x308).
pub const RTC1_INTENCLR: Reg = reg(RTC1 + 0x308, "RTC1.INTENCLR");
/// RTC1.EVTENCLR (offset 0x348).
pub const RTC1_EVTENCLR: Reg = reg(RTC1 + 0x348, "RTC1.EVTENCLR");

/// NVMC.ICACHECNF, instruction cache configuration (PS, NVMC "Registers",
/// offset 0x540).
pub const NVMC_ICACHECNF: Reg = reg(NVMC + 0x540, "NVMC.ICACHECNF");

/// I2S.TASKS_START (PS, I2S "Registers", offset 0x000).
pub const I2S_TASKS_START: Reg = reg(I2S, "I2S.TASKS_START");
/// I2S.ENABLE (offset 0x500).
pub const I2S_ENABLE: Reg = reg(I2S + 0x500, "I2S.ENABLE");
/// I2S.CONFIG.MODE (offset 0x504).
pub const I2S_CONFIG_MODE: Reg = reg(I2S + 0x504, "I2S.CONFIG.MODE");
/// I2S.CONFIG.MCKEN (offset 0x510).
pub const I2S_CONFIG_MCKEN: Reg = reg(I2S + 0x510, "I2S.CONFIG.MCKEN");
/// I2S.CONFIG.MCKFREQ (offset 0x514).
pub const I2S_CONFIG_MCKFREQ: Reg = reg(I2S + 0x514, "I2S.CONFIG.MCKFREQ");
/// I2S.PSEL.MCK (offset 0x560).
pub const I2S_PSEL_MCK: Reg = reg(I2S + 0x560, "I2S.PSEL.MCK");

/// NVIC.ICER0 and ICER1: interrupt clear-enable for IRQ 0–31 and 32–63 (ARMv7-M ARM,
/// "Nested Vectored Interrupt Controller", 0xE000_E180 + 4n; the nRF52840 has 48 peripheral interrupts).
pub const NVIC_ICER: [Reg; 2] = [
    reg(0xE000_E180, "NVIC.ICER0"),
    reg(0xE000_E184, "NVIC.ICER1"),
];
/// NVIC.ICPR0 and ICPR1: interrupt clear-pending (0xE000_E280 + 4n).
pub const NVIC_ICPR: [Reg; 2] = [
    reg(0xE000_E280, "NVIC.ICPR0"),
    reg(0xE000_E284, "NVIC.ICPR1"),
];

/// P0.PIN_CNF\[n\] or P1.PIN_CNF\[n\] (PS, GPIO "Registers", offset 0x700 + 4n).
pub const fn pin_cnf(port: Port, pin: u8) -> Reg {
    let base = match port {
        Port::P0 => P0,
        Port::P1 => P1,
    };
    reg(base + 0x700 + 4 * (pin as u32 & 0x1F), "PIN_CNF")
}

/// A GPIO port of the nRF52840.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// P0 (32 pins).
    P0,
    /// P1 (16 pins).
    P1,
}

#[cfg(test)]
mod tests {
    //! Every address against the PAC's layout: its base pointer plus the field's
    //! offset in its `RegisterBlock`.
    use core::mem::{offset_of, size_of};

    use nrf52840_pac as pac;

    use super::*;

    fn at<T>(ptr: *const T, offset: usize) -> u32 {
        (ptr as usize + offset) as u32
    }

    /// Checks each `(register, address in the PAC)`.
    fn check(cases: &[(Reg, u32)]) {
        for (reg, pac) in cases {
            assert_eq!(reg.addr, *pac, "{}", reg.name);
        }
    }

    #[test]
    fn clock_and_power() {
        use pac::{clock, power};
        let c = |o| at(pac::CLOCK::PTR, o);
        let p = |o| at(pac::POWER::PTR, o);
        check(&[
            (
                CLOCK_TRACECONFIG,
                c(offset_of!(clock::RegisterBlock, traceconfig)),
            ),
            (
                POWER_GPREGRET,
                p(offset_of!(power::RegisterBlock, gpregret)),
            ),
            (
                POWER_USBREGSTATUS,
                p(offset_of!(power::RegisterBlock, usbregstatus)),
            ),
        ]);
    }

    #[test]
    fn uarte0_and_uart0() {
        use pac::uarte0::RegisterBlock as Uarte;
        let e = |o| at(pac::UARTE0::PTR, o);
        check(&[
            (UARTE0_TASKS_STOPRX, e(offset_of!(Uarte, tasks_stoprx))),
            (UARTE0_TASKS_STOPTX, e(offset_of!(Uarte, tasks_stoptx))),
            (UARTE0_EVENTS_RXTO, e(offset_of!(Uarte, events_rxto))),
            (UARTE0_INTENCLR, e(offset_of!(Uarte, intenclr))),
            (UARTE0_ENABLE, e(offset_of!(Uarte, enable))),
            (UARTE0_PSEL_RTS, e(offset_of!(Uarte, psel.rts))),
            (UARTE0_PSEL_TXD, e(offset_of!(Uarte, psel.txd))),
            (UARTE0_PSEL_CTS, e(offset_of!(Uarte, psel.cts))),
            (UARTE0_PSEL_RXD, e(offset_of!(Uarte, psel.rxd))),
        ]);
        // The legacy UART0 is the same instance: one ENABLE, the same tasks.
        use pac::uart0::RegisterBlock as Uart;
        let u = |o| at(pac::UART0::PTR, o);
        check(&[
            (UARTE0_ENABLE, u(offset_of!(Uart, enable))),
            (UARTE0_TASKS_STOPRX, u(offset_of!(Uart, tasks_stoprx))),
            (UARTE0_TASKS_STOPTX, u(offset_of!(Uart, tasks_stoptx))),
        ]);
    }

    #[test]
    fn rtc1_nvmc_i2s() {
        use pac::i2s::RegisterBlock as I2s;
        use pac::rtc0::RegisterBlock as Rtc;
        let r = |o| at(pac::RTC1::PTR, o);
        let i = |o| at(pac::I2S::PTR, o);
        check(&[
            (RTC1_TASKS_STOP, r(offset_of!(Rtc, tasks_stop))),
            (RTC1_EVENTS_COMPARE0, r(offset_of!(Rtc, events_compare))),
            (RTC1_INTENCLR, r(offset_of!(Rtc, intenclr))),
            (RTC1_EVTENCLR, r(offset_of!(Rtc, evtenclr))),
            (
                NVMC_ICACHECNF,
                at(
                    pac::NVMC::PTR,
                    offset_of!(pac::nvmc::RegisterBlock, icachecnf),
                ),
            ),
            (I2S_TASKS_START, i(offset_of!(I2s, tasks_start))),
            (I2S_ENABLE, i(offset_of!(I2s, enable))),
            (I2S_CONFIG_MODE, i(offset_of!(I2s, config.mode))),
            (I2S_CONFIG_MCKEN, i(offset_of!(I2s, config.mcken))),
            (I2S_CONFIG_MCKFREQ, i(offset_of!(I2s, config.mckfreq))),
            (I2S_PSEL_MCK, i(offset_of!(I2s, psel.mck))),
        ]);
    }

    #[test]
    fn gpio_pin_cnf() {
        use pac::p0;
        let cnf = offset_of!(p0::RegisterBlock, pin_cnf);
        let each = size_of::<p0::PIN_CNF>();
        for pin in 0..32u8 {
            assert_eq!(
                pin_cnf(Port::P0, pin).addr,
                at(pac::P0::PTR, cnf + each * usize::from(pin))
            );
        }
        for pin in 0..16u8 {
            assert_eq!(
                pin_cnf(Port::P1, pin).addr,
                at(pac::P1::PTR, cnf + each * usize::from(pin))
            );
        }
    }

    #[test]
    fn nvic() {
        // cortex-m's NVIC register block: ICER at 0x80, ICPR at 0x180 from 0xE000_E100.
        use cortex_m::peripheral::nvic::RegisterBlock as Nvic;
        let base = cortex_m::peripheral::NVIC::PTR;
        for n in 0..2 {
            assert_eq!(NVIC_ICER[n].addr, at(base, offset_of!(Nvic, icer) + 4 * n));
            assert_eq!(NVIC_ICPR[n].addr, at(base, offset_of!(Nvic, icpr) + 4 * n));
        }
    }
}
