//! Classifies the first 10 test images `K` times with one committed model's int8
//! export (infer-core, one thread): a fixed amount of work for counting
//! instructions, which unlike wall time does not depend on the machine's load.
//!
//! `cargo run --release -p tools --bin classify-count -- MODEL [K]`
//! (`MODEL`: `mcu-long`, `mcu`, `baseline` or `padded`; `K` defaults to 10). Count with
//! `valgrind --tool=callgrind --toggle-collect='infer_core::model::Model::classify*'
//! target/release/classify-count MODEL K` and divide the total `Ir` by
//! `10 * K` for instructions per image.

use anyhow::{Context, Result, bail};
use trainer::nn::saved;

/// Test images per pass.
const IMAGES: usize = 10;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let name = args.next().context("usage: classify-count MODEL [K]")?;
    let passes: usize = match args.next() {
        Some(k) => k
            .parse()
            .with_context(|| format!("K must be a count, not {k:?}"))?,
        None => 10,
    };
    if !["mcu-long", "mcu", "baseline", "padded"].contains(&name.as_str()) {
        bail!("unknown model {name:?} (mcu-long, mcu, baseline or padded)");
    }
    let dir = saved::model_dir(&parity_tests::models_root(), &name);
    let fmq = trainer_core::files::folder::read_checked(&dir, saved::INT8_FILE)?;
    let model = infer_core::Model::from_bytes(&fmq)?;
    let test = parity_tests::test_set()?.head(IMAGES);
    let mut scratch = vec![0i8; model.scratch_len()];
    let mut classes = [0usize; IMAGES];
    for _ in 0..passes {
        for (i, class) in classes.iter_mut().enumerate() {
            *class = model
                .classify(std::hint::black_box(test.image(i)), &mut scratch)?
                .class;
        }
    }
    println!(
        "{name}: {} images classified ({passes} passes), classes {classes:?}",
        passes * test.len()
    );
    Ok(())
}
