//! `trainer predict IMAGE...`: class, name and probability of each image, the picture
//! style it was read in, or "no garment found".

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::Serialize;
use tch::nn::ModuleT;
use tch::{Device, Kind, Tensor};
use trainer::nn::Net;
use trainer::nn::saved;
use trainer_core::data::image_input;
use trainer_core::data::image_input::Reading;
use trainer_core::data::photo::Prepared;
use trainer_core::data::{IMAGE_LEN, IMAGE_SIDE};

use crate::PredictArgs;

/// One class and its probability.
#[derive(Debug, Serialize)]
struct Ranked<'n> {
    class: usize,
    name: &'n str,
    probability: f64,
}

/// The answer for one image; `class`, `name` and `probability` are `null` and `top`
/// empty when no garment was found (`reason` says why).
#[derive(Debug, Serialize)]
struct Answer<'a> {
    path: &'a Path,
    mode: Option<&'static str>,
    class: Option<usize>,
    name: Option<&'a str>,
    probability: Option<f64>,
    top: Vec<Ranked<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// Printed when a picture holds no garment.
const NOTHING: &str = "no garment found";

enum Predictor<'a> {
    Float(Box<Net>),
    Int8(Box<infer_core::Model<'a>>),
}

impl Predictor<'_> {
    fn probabilities(&self, pixels: &[u8; IMAGE_LEN]) -> Result<Vec<f64>> {
        match self {
            Predictor::Float(net) => {
                let side = IMAGE_SIDE as i64;
                let x = Tensor::from_slice(pixels.as_slice())
                    .view([1, 1, side, side])
                    .to_kind(Kind::Float)
                    / 255.0;
                let p = tch::no_grad(|| net.forward_t(&x, false).softmax(-1, Kind::Double));
                Ok(Vec::<f64>::try_from(p.flatten(0, -1))?)
            }
            Predictor::Int8(model) => trainer::eval::int8::probabilities(model, pixels),
        }
    }
}

/// Predicts every image; unreadable ones are reported and make the exit status 1, a
/// picture without a garment is answered "no garment found" (exit status 0).
pub fn run(args: PredictArgs) -> Result<ExitCode> {
    let dir = saved::model_dir(&args.model.models, &args.model.model);
    let int8_path = dir.join(saved::INT8_FILE);
    let int8_bytes = if args.int8 {
        trainer_core::files::folder::read_checked(&dir, saved::INT8_FILE)?
    } else {
        Vec::new()
    };
    // The model's class names: the .fmq's, or fit.json's.
    let (predictor, names) = if args.int8 {
        let model = trainer::eval::int8::parse(&int8_bytes)
            .with_context(|| format!("{}", int8_path.display()))?;
        let names: Vec<String> = model.class_names().map(String::from).collect();
        (Predictor::Int8(Box::new(model)), names)
    } else {
        let (_vs, net, record) = saved::load_model(&dir, Device::Cpu)?;
        (Predictor::Float(Box::new(net)), record.config.class_names())
    };
    let mut failures = 0;
    let reading = args.reading();
    for path in &args.images {
        let answer = image_input::load(path, reading).and_then(|prepared| {
            let probabilities = match prepared.input() {
                Some(input) => Some(predictor.probabilities(input)?),
                None => None,
            };
            Ok((prepared, probabilities))
        });
        match answer {
            Ok((prepared, Some(probabilities))) => {
                print_answer(path, &prepared, &probabilities, &names, &args)?
            }
            Ok((prepared, None)) => print_nothing(path, &prepared, &args)?,
            Err(e) => {
                failures += 1;
                eprintln!("error: {}: {e:#}", path.display());
            }
        }
    }
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The style a picture was read in: `dataset`, `photo`, or `scene` for a picture the
/// scene path read as a scene (it reads dataset-style pictures the dataset way).
fn mode_name(prepared: &Prepared, args: &PredictArgs) -> Option<&'static str> {
    let mode = prepared.mode()?;
    Some(match (args.reading(), mode) {
        (Reading::Scene, camera::Mode::Photo) => Reading::Scene.name(),
        _ => mode.name(),
    })
}

fn print_nothing(path: &Path, prepared: &Prepared, args: &PredictArgs) -> Result<()> {
    let reason = match prepared {
        Prepared::Nothing(e) => e.to_string(),
        Prepared::Garment { .. } => String::new(),
    };
    if args.json {
        let answer = Answer {
            path,
            mode: mode_name(prepared, args),
            class: None,
            name: None,
            probability: None,
            top: Vec::new(),
            reason: Some(reason),
        };
        println!("{}", serde_json::to_string(&answer)?);
    } else {
        println!(
            "{}: {NOTHING} [{}]",
            path.display(),
            mode_name(prepared, args).unwrap_or("?")
        );
    }
    Ok(())
}

fn print_answer(
    path: &Path,
    prepared: &Prepared,
    probabilities: &[f64],
    names: &[String],
    args: &PredictArgs,
) -> Result<()> {
    let mut ranked: Vec<Ranked> = probabilities
        .iter()
        .enumerate()
        .map(|(class, &probability)| Ranked {
            class,
            name: names.get(class).map_or("?", String::as_str),
            probability,
        })
        .collect();
    // Stable sort: ties keep the lower class first, as argmax does.
    ranked.sort_by(|a, b| b.probability.total_cmp(&a.probability));
    ranked.truncate(args.top.max(1));
    let (class, name, probability) = (ranked[0].class, ranked[0].name, ranked[0].probability);
    if args.json {
        let answer = Answer {
            path,
            mode: mode_name(prepared, args),
            class: Some(class),
            name: Some(name),
            probability: Some(probability),
            top: ranked,
            reason: None,
        };
        println!("{}", serde_json::to_string(&answer)?);
    } else {
        println!(
            "{}: {} {} ({:.2}%) [{}]",
            path.display(),
            class,
            name,
            100.0 * probability,
            mode_name(prepared, args).unwrap_or("?")
        );
        for r in &ranked[1..] {
            println!("    {} {} ({:.2}%)", r.class, r.name, 100.0 * r.probability);
        }
    }
    Ok(())
}
