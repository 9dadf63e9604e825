//! `trainer export`: post-training quantization of a saved float model to `model.fmq`.

use std::process::ExitCode;

use anyhow::Result;
use trainer::data::Split;
use trainer::saved;

use crate::ExportArgs;

/// Quantizes and writes the int8 model.
pub fn run(args: ExportArgs) -> Result<ExitCode> {
    let dir = saved::model_dir(&args.model.models, &args.model.model);
    let config = saved::read_fit_record(&dir)?.config;
    let calib = args.data.load(Split::Train, Some(args.calib))?;
    let bytes = trainer::int8::export(&dir.join(saved::WEIGHTS_FILE), &config, &calib)?;
    let out = dir.join(saved::INT8_FILE);
    trainer::atomic::write_atomic(&out, &bytes)?;
    println!(
        "wrote {} ({} bytes, calibrated on {} images)",
        out.display(),
        bytes.len(),
        calib.len()
    );
    Ok(ExitCode::SUCCESS)
}
