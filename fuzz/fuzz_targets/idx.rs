//! The trainer's IDX reader (`trainer_core::data`): gzip detection and decompression, the
//! header checks, and the checks that bind an image file to its label file. Nothing
//! may panic; what is accepted must be consistent.
//!
//! The input is two files: its first two bytes (`n`, little-endian) split the rest
//! after `min(n, len)` bytes into the image file and the label file. Each file is
//! also parsed alone as a one- and a three-dimensional IDX file.
//!
//! The code is `trainer-core`'s, the trainer's half without libtorch, so the target
//! needs neither libtorch nor the rest of the trainer.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

use trainer_core::data::{self, IMAGE_LEN, NUM_CLASSES};

fn parse_alone(file: &[u8], path: &Path) {
    let Ok(bytes) = data::decode_maybe_gzip(file, path) else {
        return;
    };
    for ndims in [1, 3] {
        if let Ok(idx) = data::parse_idx(&bytes, ndims, path) {
            assert_eq!(idx.dims.len(), ndims);
            assert_eq!(idx.dims.iter().product::<usize>(), idx.data.len());
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let [a, b, rest @ ..] = input else {
        return;
    };
    let (images, labels) = rest.split_at(usize::from(u16::from_le_bytes([*a, *b])).min(rest.len()));
    let (image_path, label_path) = (Path::new("images.idx"), Path::new("labels.idx"));
    parse_alone(images, image_path);
    parse_alone(labels, label_path);
    match data::pair_from_bytes(images, image_path, labels, label_path) {
        Ok(set) => {
            assert_eq!(set.images.len(), set.len() * IMAGE_LEN);
            assert!(set.labels.iter().all(|&l| usize::from(l) < NUM_CLASSES));
            if !set.is_empty() {
                let _ = set.image(set.len() - 1);
            }
        }
        Err(e) => {
            // Every error names the file it is about.
            let message = e.to_string();
            assert!(message.contains(".idx"), "{message}");
        }
    }
});
