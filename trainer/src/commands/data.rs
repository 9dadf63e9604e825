//! `trainer data show | download | verify`.

use std::process::ExitCode;

use anyhow::Result;
use trainer::study::plots;
use trainer_core::data::download;
use trainer_core::data::{self, Split};

use crate::DataAction;

/// Runs a `data` action.
pub fn run(action: DataAction) -> Result<ExitCode> {
    match action {
        DataAction::Show { data, out } => {
            let train = data.load(Split::Train, Some(9))?;
            plots::image_grid(&train, &out)?;
            println!("wrote {}", out.display());
        }
        DataAction::Download { dir, url } => {
            let dir = download::download_all(dir.as_deref(), &url)?;
            println!("dataset ready in {}", dir.display());
        }
        DataAction::Verify { data } => {
            let dir = data::locate(data.data.as_deref())?;
            for line in download::verify_dir(&dir)? {
                println!("{line}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
