//! Memory use from cortex-m-rt's linker symbols, and the stack high-water mark.
//!
//! cortex-m-rt's `paint-stack` feature (enabled by this crate's `firmware` feature)
//! fills the whole stack region, `_stack_end..._stack_start`, with `0xCCCC_CCCC` before
//! `main`. The high-water mark is the distance from the top of the stack down to the
//! lowest word that no longer holds the paint.

/// What cortex-m-rt paints the stack with (its `STACK_PAINT_VALUE`).
pub const PAINT: u32 = cortex_m_rt::STACK_PAINT_VALUE;

// SAFETY: these symbols are defined by cortex-m-rt's `link.x`; only their addresses
// are used, never their contents.
unsafe extern "C" {
    static __stext: u32;
    static __etext: u32;
    static __srodata: u32;
    static __erodata: u32;
    static __sdata: u32;
    static __edata: u32;
    static __sbss: u32;
    static __ebss: u32;
    static _stack_end: u32;
    static _stack_start: u32;
}

/// Section sizes and stack use, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, defmt::Format)]
pub struct Memory {
    /// `.text` (code, after the vector table).
    pub text: usize,
    /// `.rodata` (constants: the model and the frames live here).
    pub rodata: usize,
    /// `.data` (initialised statics: in RAM, with a copy in flash).
    pub data: usize,
    /// `.bss` (zeroed statics).
    pub bss: usize,
    /// Deepest stack use so far.
    pub stack_high_water: usize,
    /// The whole stack region (RAM left after the statics).
    pub stack_size: usize,
}

/// Reads the section sizes and measures the stack.
pub fn memory() -> Memory {
    let addr = |p: *const u32| p as usize;
    let span = |a: *const u32, b: *const u32| addr(b).saturating_sub(addr(a));
    let (bottom, top) = (&raw const _stack_end, &raw const _stack_start);
    Memory {
        text: span(&raw const __stext, &raw const __etext),
        rodata: span(&raw const __srodata, &raw const __erodata),
        data: span(&raw const __sdata, &raw const __edata),
        bss: span(&raw const __sbss, &raw const __ebss),
        stack_high_water: span(lowest_used(bottom, top), top),
        stack_size: span(bottom, top),
    }
}

/// The lowest stack word (from `bottom` up) whose paint is gone; `top` if none is.
fn lowest_used(bottom: *const u32, top: *const u32) -> *const u32 {
    let mut p = bottom;
    while p < top {
        // SAFETY: `p` is word-aligned (cortex-m-rt aligns both ends to 4) and lies in
        // the stack region, which is RAM; a volatile read keeps the compiler from
        // assuming anything about memory it does not know is written.
        if unsafe { p.read_volatile() } != PAINT {
            return p;
        }
        p = p.wrapping_add(1);
    }
    top
}
