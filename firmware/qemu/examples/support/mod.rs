//! What the QEMU examples share: ending QEMU with an exit status through semihosting,
//! and the panic and HardFault handlers that end it with 1.

use cortex_m_rt::{ExceptionFrame, exception};
use cortex_m_semihosting::debug::{self, EXIT_FAILURE, ExitStatus};

/// Ends QEMU with `status` through semihosting.
pub fn exit(status: ExitStatus) -> ! {
    debug::exit(status);
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    exit(EXIT_FAILURE)
}

#[exception]
unsafe fn HardFault(_: &ExceptionFrame) -> ! {
    exit(EXIT_FAILURE)
}
