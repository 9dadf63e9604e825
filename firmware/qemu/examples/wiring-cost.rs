//! The cost of the camera wiring correction, counted in QEMU (`-icount shift=0`: one
//! SysTick tick is 40 instructions; the firmware's release profile):
//! `cd firmware && cargo run --release -p fw-qemu --example wiring-cost`.
//!
//! Logs the instructions to build the 256-byte table of a D0/D1 swap
//! (`Wiring::correction`), to correct one 160x120 Y plane with it
//! (`Correction::apply`, once per frame on a board with swapped lines) and to pass over
//! it with the identity (every other board), then checks the corrected plane.
//! Exits with 0 when the plane is right, 1 otherwise.
#![no_std]
#![no_main]

mod support;

use core::hint::black_box;

use cortex_m_rt::entry;
use cortex_m_semihosting::debug::{EXIT_FAILURE, EXIT_SUCCESS};
use defmt_semihosting as _;
use fw_common::app::SysTickStopwatch;
use fw_common::ov767x::{Correction, HEIGHT, WIDTH, Wiring};
use fw_common::pipeline::Stopwatch;
use support::exit;

/// Instructions per SysTick tick with `-icount shift=0` (25 MHz, 1 ns per instruction).
const INSTRUCTIONS_PER_TICK: u32 = 40;

/// The byte a board with D0/D1 swapped captures for `b`.
fn swapped(b: u8) -> u8 {
    (b & 0xFC) | ((b & 1) << 1) | ((b >> 1) & 1)
}

#[entry]
fn main() -> ! {
    let Some(mut core) = cortex_m::Peripherals::take() else {
        exit(EXIT_FAILURE)
    };
    let Some(y) = cortex_m::singleton!(: [u8; WIDTH * HEIGHT] = [0; WIDTH * HEIGHT]) else {
        exit(EXIT_FAILURE)
    };
    let mut sw = SysTickStopwatch::start(&mut core.SYST, INSTRUCTIONS_PER_TICK, "instructions");
    for (i, p) in y.iter_mut().enumerate() {
        *p = swapped((i * 7 + i / WIDTH) as u8);
    }
    let Some(wiring) = Wiring::swapped(0, 1) else {
        exit(EXIT_FAILURE)
    };

    let t = sw.now();
    let correction = black_box(black_box(wiring).correction());
    let table = sw.since(t);

    let t = sw.now();
    correction.apply(black_box(&mut y[..]));
    let frame = sw.since(t);

    let identity = black_box(Correction::default());
    let t = sw.now();
    identity.apply(black_box(&mut y[..]));
    let nothing = sw.since(t);

    defmt::info!(
        "wiring correction: table {=u32} {=str}, frame ({=usize} bytes) {=u32}, identity {=u32}",
        table,
        sw.unit(),
        WIDTH * HEIGHT,
        frame,
        nothing
    );
    let right = y
        .iter()
        .enumerate()
        .all(|(i, &p)| p == (i * 7 + i / WIDTH) as u8);
    exit(if right { EXIT_SUCCESS } else { EXIT_FAILURE })
}
