//! The camera classification demo in QEMU (`-M mps2-an386 -cpu cortex-m4`).
//!
//! Frames come from the sample frames in flash, go through `camera::preprocess`
//! and `Model::classify`, and are drawn into an in-memory framebuffer; every result,
//! the work per frame (SysTick under `-icount shift=0` counts 40 instructions a tick)
//! and the memory use are logged with defmt over semihosting. QEMU exits with 0 when
//! every frame gave a prediction, 1 on any failure, panic or HardFault.
//!
//! Built with the `kernel-check` feature it runs `infer_core::selfcheck` instead:
//! the fast (DSP) kernels against the reference kernels on random shapes and values.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, Ordering};

#[cfg(feature = "kernel-check")]
use cortex_m_rt::entry;
use cortex_m_rt::{ExceptionFrame, exception};
use cortex_m_semihosting::debug::{self, EXIT_FAILURE, EXIT_SUCCESS, ExitStatus};
use defmt_semihosting as _;

/// The demo (every build but `kernel-check`).
#[cfg(not(feature = "kernel-check"))]
mod demo {
    use cortex_m_rt::entry;
    use fw_common::app::{self, SysTickStopwatch};
    use fw_common::display::Framebuffer;
    use fw_common::frames::{FlashFrames, FrameSet};
    use fw_common::infer_core::IMAGE_LEN as PIXELS;

    use super::{EXIT_FAILURE, EXIT_SUCCESS, exit};

    mod assets {
        include!(concat!(env!("OUT_DIR"), "/assets.rs"));
    }

    /// Instructions per SysTick tick with `-icount shift=0` (25 MHz, 1 ns per instruction).
    const INSTRUCTIONS_PER_TICK: u32 = 40;

    #[entry]
    fn main() -> ! {
        let Some(mut core) = cortex_m::Peripherals::take() else {
            exit(EXIT_FAILURE)
        };
        let mut stopwatch =
            SysTickStopwatch::start(&mut core.SYST, INSTRUCTIONS_PER_TICK, "instructions");
        selftest();
        let (Some(scratch), Some(screen)) = (
            cortex_m::singleton!(: [i8; assets::SCRATCH_LEN] = [0; assets::SCRATCH_LEN]),
            cortex_m::singleton!(: Framebuffer = Framebuffer::new()),
        ) else {
            exit(EXIT_FAILURE)
        };
        let mut input = [0u8; PIXELS];
        let set = match FrameSet::parse(assets::FRAMES) {
            Ok(set) => set,
            Err(e) => {
                defmt::error!("frames: {}", e);
                exit(EXIT_FAILURE)
            }
        };
        let mut source = FlashFrames::new(set);
        // The report compares the start-up with a full `Model::from_bytes`.
        if let Err(e) = app::log_checked_load(assets::MODEL, &mut stopwatch) {
            defmt::error!("stopped: {}", e);
            exit(EXIT_FAILURE)
        }
        let result = app::run(
            assets::MODEL,
            &mut source,
            screen,
            Framebuffer::checksum,
            &mut stopwatch,
            scratch,
            &mut input,
        );
        match result {
            Ok(report) if report.failed == 0 => exit(EXIT_SUCCESS),
            Ok(report) => {
                defmt::error!("{=usize} frames without a prediction", report.failed);
                exit(EXIT_FAILURE)
            }
            Err(e) => {
                defmt::error!("stopped: {}", e);
                exit(EXIT_FAILURE)
            }
        }
    }

    /// With a `selftest-*` feature, fails on purpose so the script can check the exit code.
    fn selftest() {
        #[cfg(feature = "selftest-panic")]
        panic!("selftest: panicking on purpose");
        #[cfg(feature = "selftest-hardfault")]
        {
            defmt::info!("selftest: executing an undefined instruction");
            cortex_m::asm::udf();
        }
    }
}

/// Cases of the kernel check (each a random convolution, first layer, dense layer and
/// global average pool).
#[cfg(feature = "kernel-check")]
const KERNEL_CHECK_CASES: u32 = 300;

/// With the `kernel-check` feature: infer-core's fast kernels against its reference
/// kernels on random shapes and values (`infer_core::selfcheck`), then exit.
#[cfg(feature = "kernel-check")]
#[entry]
fn kernel_check() -> ! {
    // The seed is fixed so that a failure reproduces; the host property tests draw
    // fresh seeds every run.
    let seed = 0x4b45_524e_454c_5331;
    match fw_common::infer_core::selfcheck::run(seed, KERNEL_CHECK_CASES) {
        Ok(s) => {
            defmt::info!("kernel-check ok: {}", s);
            exit(EXIT_SUCCESS)
        }
        Err(m) => {
            defmt::error!("kernel-check mismatch: {}", m);
            exit(EXIT_FAILURE)
        }
    }
}

/// Ends QEMU with `status` through semihosting.
fn exit(status: ExitStatus) -> ! {
    debug::exit(status);
    // Not reached under QEMU; on anything else, stop here.
    loop {
        cortex_m::asm::wfi();
    }
}

/// Set on the first panic, so a panic while logging does not recurse.
static PANICKED: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    if !PANICKED.swap(true, Ordering::Relaxed) {
        defmt::error!("panic: {}", defmt::Display2Format(info));
    }
    exit(EXIT_FAILURE)
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    if !PANICKED.swap(true, Ordering::Relaxed) {
        defmt::error!("HardFault at pc={=u32:#010x}", frame.pc());
    }
    exit(EXIT_FAILURE)
}
