//! Classify a picture with an exported model: the whole of what an application does
//! with infer-core.
//!
//! ```sh
//! cargo run -p infer-core --example classify -- models/mcu-scene/model.fmq docs/pictures/product-photo.png
//! ```
//!
//! 1. Read the `.fmq` file and check it once with [`Model::from_bytes`] (magic, version,
//!    CRC, shapes); from then on the model borrows its parameters from those bytes.
//! 2. Turn the picture into the model's 28x28 input with `camera::scene`, the code the
//!    firmware runs on camera frames: it finds a garment lighter or darker than the
//!    surface behind it, crops and resizes it and makes it light on black, resizes a
//!    dataset-style picture whole, or finds nothing there
//!    (`trainer predict` first scales photos down to 320 pixels on the longer side, the
//!    size of a small camera's frame; this example passes the picture as it is).
//! 3. Classify with a scratch buffer of [`Model::scratch_len`] bytes (on a
//!    microcontroller a static array; no allocator needed) and print the answer.

use std::process::ExitCode;

use camera::preprocess::{Config, Frame, Mode};
use camera::scene::preprocess_scene;
use infer_core::{IMAGE_LEN, Model};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model_path, picture_path] = args.as_slice() else {
        eprintln!("usage: classify MODEL.fmq PICTURE");
        return ExitCode::from(2);
    };
    match run(model_path, picture_path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(model_path: &str, picture_path: &str) -> Result<(), String> {
    let bytes = std::fs::read(model_path).map_err(|e| format!("{model_path}: {e}"))?;
    let model = Model::from_bytes(&bytes).map_err(|e| format!("{model_path}: {e}"))?;

    let picture = image::open(picture_path)
        .map_err(|e| format!("{picture_path}: {e}"))?
        .into_luma8();
    let (width, height) = (picture.width() as usize, picture.height() as usize);
    let frame =
        Frame::new(picture.as_raw(), width, height).map_err(|e| format!("{picture_path}: {e}"))?;
    let mut input = [0u8; IMAGE_LEN];
    match preprocess_scene(&frame, &Config::default(), &mut input) {
        Ok(detection) => {
            let reading = match detection.mode {
                Mode::Dataset => "dataset-style",
                Mode::Photo => "scene",
            };
            println!("{picture_path}: {reading} picture");
        }
        Err(e) if e.nothing_there() => {
            println!("{picture_path}: no garment found ({e})");
            return Ok(());
        }
        Err(e) => return Err(format!("{picture_path}: {e}")),
    }

    let mut scratch = vec![0i8; model.scratch_len()];
    let prediction = model
        .classify(&input, &mut scratch)
        .map_err(|e| format!("{model_path}: {e}"))?;
    let scores = prediction.dequantized();
    println!(
        "{picture_path}: {} (class {}, score {:.2})",
        prediction.name, prediction.class, scores[prediction.class]
    );
    Ok(())
}
