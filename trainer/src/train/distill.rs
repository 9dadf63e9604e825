//! Knowledge distillation from a saved teacher model (Hinton, Vinyals and Dean,
//! "Distilling the knowledge in a neural network", 2015).
//!
//! The student learns from the labels and from the teacher's softened outputs:
//!
//! ```text
//! loss = (1 - α) · CE(student, labels; label smoothing)
//!      + α · T² · KL( softmax(teacher / T) ‖ softmax(student / T) )
//! ```
//!
//! with the KL divergence summed over the classes and averaged over the batch. The T²
//! keeps the soft term's gradients on the scale of the hard term's whatever the
//! temperature. The teacher is a model folder as `trainer fit` writes it; it runs in
//! eval mode (batch-norm running statistics, no dropout), without gradients, on the
//! same augmented batch as the student.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use tch::nn::{ModuleT, VarStore};
use tch::{Device, Kind, Tensor};

use crate::nn::Net;
use crate::nn::saved;
use crate::study::LeftOutFold;
use trainer_core::data::{IMAGE_SIDE, NUM_CLASSES};
use trainer_core::files::folder;

/// The distillation settings of a run, as recorded in its result files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distill {
    /// The teacher's model folder (absolute).
    pub teacher: PathBuf,
    /// SHA-256 of the teacher's weights (`model.safetensors`): the run is refused if
    /// they change, so a record names exactly the teacher it learnt from.
    pub teacher_sha256: String,
    /// Weight α of the distillation term, in [0, 1] (`--distill-alpha`).
    pub alpha: f64,
    /// Temperature T of both softmaxes, > 0 (`--distill-temperature`).
    pub temperature: f64,
    /// The validation fold the teacher never saw (`trainer fit --leave-out-fold`), from
    /// its `fit.json`; none for a teacher fitted on every training image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_left_out: Option<LeftOutFold>,
}

impl Distill {
    /// Checks that `dir` holds a usable teacher (a saved model whose files agree with
    /// its manifest and that gives one score per class) and records its absolute path
    /// and the SHA-256 of its weights. Nothing is written.
    /// The settings are checked first ([`Distill::validate`]).
    pub fn new(dir: &Path, alpha: f64, temperature: f64) -> Result<Distill> {
        let mut d = Distill {
            teacher: PathBuf::new(),
            teacher_sha256: String::new(),
            alpha,
            temperature,
            teacher_left_out: None,
        };
        d.validate()?;
        let bad = || format!("--teacher {}: not a usable teacher model", dir.display());
        d.teacher = std::fs::canonicalize(dir)
            .with_context(|| format!("{}: no such model folder", dir.display()))
            .with_context(bad)?;
        let (sha, left_out, _) = Teacher::open(&d.teacher, Device::Cpu).with_context(bad)?;
        d.teacher_sha256 = sha;
        d.teacher_left_out = left_out;
        Ok(d)
    }

    /// Checks the values (`--distill-alpha`, `--distill-temperature`).
    pub fn validate(&self) -> Result<()> {
        if !(self.alpha.is_finite() && (0.0..=1.0).contains(&self.alpha)) {
            bail!("--distill-alpha must be in [0, 1] (got {})", self.alpha);
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            bail!(
                "--distill-temperature must be a positive number (got {})",
                self.temperature
            );
        }
        Ok(())
    }
}

/// A loaded teacher.
#[derive(Debug)]
pub struct Teacher {
    net: Net,
    /// Owns the teacher's variables.
    _vs: VarStore,
}

impl Teacher {
    /// Loads the teacher recorded in `d` onto `device`, refusing it if its weights are
    /// no longer the ones recorded.
    pub fn load(d: &Distill, device: Device) -> Result<Teacher> {
        let (sha, _, teacher) = Teacher::open(&d.teacher, device).with_context(|| {
            format!(
                "--teacher {}: not a usable teacher model",
                d.teacher.display()
            )
        })?;
        if sha != d.teacher_sha256 {
            bail!(
                "{}: the teacher's weights changed since the run was set up (SHA-256 {} \
                 recorded, {sha} now)",
                d.teacher.join(saved::WEIGHTS_FILE).display(),
                d.teacher_sha256
            );
        }
        Ok(teacher)
    }

    /// The SHA-256 of the weights in `dir`, the fold its `fit.json` says it left out,
    /// and the model loaded from them, checked to give one score per class for a
    /// Fashion-MNIST image.
    fn open(dir: &Path, device: Device) -> Result<(String, Option<LeftOutFold>, Teacher)> {
        let weights = folder::read_checked(dir, saved::WEIGHTS_FILE)?;
        let (vs, net, record) = saved::load_model(dir, device)?;
        // load_model checked the file against the manifest again and unchanged while
        // it loaded; the digest is of the bytes it loaded unless both changed at once.
        let sha = folder::sha256_hex(&weights);
        let side = IMAGE_SIDE as i64;
        let probe = tch::no_grad(|| {
            net.forward_t(
                &Tensor::zeros([1, 1, side, side], (Kind::Float, device)),
                false,
            )
        });
        if probe.size() != [1, NUM_CLASSES as i64] {
            bail!(
                "the model gives {:?} outputs for an image, not {NUM_CLASSES} class scores",
                &probe.size()[1..]
            );
        }
        Ok((sha, record.left_out, Teacher { net, _vs: vs }))
    }

    /// The teacher's logits for a batch: eval mode, no gradients.
    pub fn logits(&self, xs: &Tensor) -> Tensor {
        tch::no_grad(|| self.net.forward_t(xs, false))
    }
}

/// The cross-entropy of `logits` against `labels`, with label smoothing when
/// `smoothing` > 0 (the training loss without distillation).
pub fn hard_loss(logits: &Tensor, labels: &Tensor, smoothing: f64) -> Tensor {
    if smoothing > 0.0 {
        logits.cross_entropy_loss::<Tensor>(labels, None, tch::Reduction::Mean, -100, smoothing)
    } else {
        logits.cross_entropy_for_logits(labels)
    }
}

/// The distillation loss of the module docs for a batch: the student's `logits`, the
/// teacher's `teacher` logits (no gradient flows into them), the `labels`.
pub fn loss(
    logits: &Tensor,
    teacher: &Tensor,
    labels: &Tensor,
    smoothing: f64,
    d: &Distill,
) -> Tensor {
    let t = d.temperature;
    let log_student = (logits / t).log_softmax(-1, Kind::Float);
    let log_teacher = (teacher.detach() / t).log_softmax(-1, Kind::Float);
    let kl = (log_teacher.exp() * (&log_teacher - log_student))
        .sum_dim_intlist(-1i64, false, Kind::Float)
        .mean(Kind::Float);
    hard_loss(logits, labels, smoothing) * (1.0 - d.alpha) + kl * (d.alpha * t * t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(alpha: f64, temperature: f64) -> Distill {
        Distill {
            teacher: PathBuf::new(),
            teacher_sha256: String::new(),
            alpha,
            temperature,
            teacher_left_out: None,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-5
    }

    #[test]
    fn the_loss_is_hintons() {
        let student = Tensor::from_slice(&[1.0f32, 0.0, -1.0, 0.5, 0.5, 2.0]).view([2, 3]);
        let teacher = Tensor::from_slice(&[2.0f32, 0.0, 0.0, 0.0, 1.0, 1.0]).view([2, 3]);
        let labels = Tensor::from_slice(&[0i64, 2]);
        let value = |t: &Tensor| t.double_value(&[]);
        // α = 0: the plain (smoothed) cross-entropy.
        let ce = value(&hard_loss(&student, &labels, 0.1));
        assert!(close(
            value(&loss(&student, &teacher, &labels, 0.1, &settings(0.0, 4.0))),
            ce
        ));
        // α = 1, T = 2: T² · mean over the batch of Σ p_t (log p_t - log p_s), by hand.
        let softmax = |z: [f64; 3], t: f64| {
            let e: Vec<f64> = z.iter().map(|v| (v / t).exp()).collect();
            let s: f64 = e.iter().sum();
            e.into_iter().map(|v| v / s).collect::<Vec<f64>>()
        };
        let mut kl = 0.0;
        for (s, te) in [
            ([1.0, 0.0, -1.0], [2.0, 0.0, 0.0]),
            ([0.5, 0.5, 2.0], [0.0, 1.0, 1.0]),
        ] {
            let (ps, pt) = (softmax(s, 2.0), softmax(te, 2.0));
            kl += (0..3)
                .map(|c| pt[c] * (pt[c].ln() - ps[c].ln()))
                .sum::<f64>();
        }
        let want = 4.0 * kl / 2.0;
        let got = value(&loss(&student, &teacher, &labels, 0.0, &settings(1.0, 2.0)));
        assert!(close(got, want), "{got} vs {want}");
        // A mix is the weighted sum; a student equal to its teacher has no soft loss.
        let mix = value(&loss(
            &student,
            &teacher,
            &labels,
            0.0,
            &settings(0.25, 2.0),
        ));
        let hard = value(&hard_loss(&student, &labels, 0.0));
        assert!(close(mix, 0.75 * hard + 0.25 * want), "{mix}");
        let same = value(&loss(&student, &student, &labels, 0.0, &settings(1.0, 3.0)));
        assert!(same.abs() < 1e-6, "{same}");
    }

    #[test]
    fn gradients_reach_the_student_only() {
        let student = Tensor::from_slice(&[1.0f32, 0.0, -1.0])
            .view([1, 3])
            .set_requires_grad(true);
        let teacher = Tensor::from_slice(&[0.0f32, 2.0, 0.0])
            .view([1, 3])
            .set_requires_grad(true);
        let labels = Tensor::from_slice(&[1i64]);
        loss(&student, &teacher, &labels, 0.0, &settings(0.5, 2.0)).backward();
        assert!(student.grad().abs().sum(Kind::Float).double_value(&[]) > 0.0);
        assert!(!teacher.grad().defined(), "the teacher gets no gradient");
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(settings(0.5, 4.0).validate().is_ok());
        assert!(settings(1.5, 4.0).validate().is_err());
        assert!(settings(-0.1, 4.0).validate().is_err());
        assert!(settings(0.5, 0.0).validate().is_err());
        assert!(settings(0.5, f64::NAN).validate().is_err());
    }
}
