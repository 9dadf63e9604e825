//! `trainer frames`: camera-like sample frames for the firmware, made from test images.

use std::process::ExitCode;

use anyhow::Result;
use trainer_core::data::Split;

use crate::FramesArgs;

/// Writes the frames (and their labels) for the firmware to embed, or, with
/// `--pictures`, the given pictures as frames.
pub fn run(args: FramesArgs) -> Result<ExitCode> {
    if !args.pictures.is_empty() {
        trainer_core::data::photo::write_picture_frames(&args.pictures, &args.out)?;
        println!(
            "wrote {} frames into {}",
            args.pictures.len(),
            args.out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let test = args.data.load(Split::Test, None)?;
    let images: Vec<[u8; trainer_core::data::IMAGE_LEN]> =
        (0..test.len()).map(|i| *test.image(i)).collect();
    trainer_core::data::photo::write_sample_frames(&images, &test.labels, args.count, &args.out)?;
    println!("wrote {} frames into {}", args.count, args.out.display());
    Ok(ExitCode::SUCCESS)
}
