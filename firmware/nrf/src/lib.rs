//! The nRF52840 code both board apps share (the Nano 33 BLE Sense of the Tiny ML Kit,
//! and the nRF52840-DK).
//!
//! Host-testable (`cargo test -p fw-nrf --target x86_64-unknown-linux-gnu`):
//! - [`plan`]: register plans (write, bounded wait) with a source per step, and their
//!   executor; [`regs`]: the registers they use (checked against the PAC);
//! - [`startup`]: the clean start, XCLK, the camera's input pins, the bootloader entry
//!   as plans;
//! - [`touch`]: the 1200-baud touch that restarts the board into its bootloader;
//! - [`wiring`]: each board's camera pins and its byte assembly;
//! - [`signal`]: the LED signals and the camera-fault counter of the live loop;
//!   [`wait`]: a bounded wait.
//!
//! On the microcontroller only (`target_os = "none"`), `target`: the plans run by
//! volatile writes, the GPIO camera bus and the interrupts-off guard, USB serial (built
//! only with VBUS, serviced from a timer and between capture lines, the touch), the
//! LEDs, and the live loop both apps run.
#![cfg_attr(not(test), no_std)]
#![warn(missing_docs, missing_debug_implementations)]

pub mod plan;
pub mod regs;
pub mod signal;
pub mod startup;
pub mod touch;
pub mod wait;
pub mod wiring;

#[cfg(target_os = "none")]
pub mod target;
