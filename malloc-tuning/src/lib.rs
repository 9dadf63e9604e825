//! Keeps freed memory in the C allocator instead of returning it to the kernel.
//!
//! libtorch allocates every tensor through `malloc`. A training step of the baseline
//! frees and reallocates buffers of a few MiB (a batch's convolution output and its
//! gradient, 2.8 MB each), and glibc by default serves such sizes with fresh `mmap`s or
//! trims them off the heap's top when freed: the next step then faults every page in
//! again and the kernel clears it, which cost about a quarter of a step's time here
//! (see `docs/performance.md`). [`keep_freed_memory`] raises glibc's thresholds
//! so that those buffers stay in the heap and are reused; tensors larger than 32 MiB
//! (the dataset) still get their own mapping.
//!
//! On other C libraries than glibc it does nothing.

/// Requests below this size come from the heap, not from their own `mmap`
/// (glibc's largest allowed value on 64-bit targets).
pub const MMAP_THRESHOLD: usize = 32 << 20;
/// Free memory at the heap's top is given back to the kernel only above this size.
pub const TRIM_THRESHOLD: usize = 1 << 30;

/// Tunes the allocator for many same-sized large allocations; call it once, early in
/// `main`, before other threads start. Returns false if the C library refused a setting
/// (or is not glibc): the program still works, only slower.
pub fn keep_freed_memory() -> bool {
    imp::keep_freed_memory()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
mod imp {
    use super::{MMAP_THRESHOLD, TRIM_THRESHOLD};

    pub fn keep_freed_memory() -> bool {
        let settings = [
            (libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD),
            (libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD),
        ];
        settings.iter().all(|&(param, value)| {
            let Ok(value) = libc::c_int::try_from(value) else {
                return false;
            };
            // SAFETY: mallopt only changes glibc's allocator parameters; both are valid
            // parameter numbers and the values are in their documented ranges. It is
            // called before other threads allocate (see `keep_freed_memory`).
            unsafe { libc::mallopt(param, value) == 1 }
        })
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod imp {
    pub fn keep_freed_memory() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_the_settings() {
        assert!(super::keep_freed_memory());
        let v: Vec<u8> = vec![7; 3 << 20];
        assert_eq!(v.iter().map(|&b| b as usize).sum::<usize>(), 7 * (3 << 20));
    }
}
