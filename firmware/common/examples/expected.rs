//! Prints, for every sample frame, the line the firmware logs: frame, true label,
//! predicted class and name, int8 scores and the screen's checksum, computed on the
//! host with the same code. `scripts/firmware-check.sh` diffs it with QEMU's output.
//!
//! `cargo run -p fw-common --example expected --target x86_64-unknown-linux-gnu --
//!  FRAMES.bin MODEL.fmq [SCREENS_DIR]` (SCREENS_DIR: also write each screen as PGM)

use camera::Config;
use fw_common::display::{self, Framebuffer};
use fw_common::frames::{FlashFrames, FrameSet, FrameSource};
use fw_common::pipeline::{self, NoStopwatch};
use infer_core::IMAGE_LEN as PIXELS;
use infer_core::Model;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [frames_path, model_path, rest @ ..] = args.as_slice() else {
        return Err("usage: expected FRAMES.bin MODEL.fmq [SCREENS_DIR]".into());
    };
    let blob = std::fs::read(frames_path)?;
    let model_bytes = std::fs::read(model_path)?;
    let model = Model::from_bytes(&model_bytes)?;
    let mut source = FlashFrames::new(FrameSet::parse(&blob)?);
    let mut scratch = vec![0i8; model.scratch_len()];
    let mut input = [0u8; PIXELS];
    let mut screen = Framebuffer::new();
    let mut index = 0;
    while let Some(captured) = source.next_frame()? {
        let outcome = pipeline::process(
            &model,
            index,
            &captured,
            &Config::default(),
            &mut input,
            &mut scratch,
            &mut screen,
            &mut NoStopwatch,
        )?;
        let label = captured.label.map_or(-1, i16::from);
        match &outcome.result {
            Ok((_, p)) => println!(
                "frame={index} label={label} class={} name={} scores={:?} screen={}",
                p.class,
                p.name,
                p.scores.as_slice(),
                screen.checksum()
            ),
            Err(e) => println!(
                "frame={index} label={label} error={} screen={}",
                e.name(),
                screen.checksum()
            ),
        }
        if let Some(dir) = rest.first() {
            let mut pgm = format!("P5 {} {} 255\n", display::WIDTH, display::HEIGHT).into_bytes();
            pgm.extend_from_slice(screen.pixels());
            std::fs::write(
                std::path::Path::new(dir).join(format!("screen{index}.pgm")),
                pgm,
            )?;
        }
        index += 1;
    }
    Ok(())
}
