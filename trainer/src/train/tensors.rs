//! Images and labels as tensors on a device.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

use trainer_core::data::{Dataset, IMAGE_SIDE};

/// Images and labels as tensors on a device.
#[derive(Debug)]
pub struct Tensors {
    /// `[N, 1, 28, 28]` float pixels in [0, 1].
    pub images: Tensor,
    /// `[N]` int64 labels.
    pub labels: Tensor,
}

impl Tensors {
    /// Converts a dataset: pixels are scaled to [0, 1].
    pub fn new(data: &Dataset, device: Device) -> Tensors {
        let n = data.len() as i64;
        let side = IMAGE_SIDE as i64;
        let images = Tensor::from_slice(&data.images)
            .view([n, 1, side, side])
            .to_kind(Kind::Float)
            .divide_scalar(255.0)
            .to_device(device);
        let labels = Tensor::from_slice(&data.labels)
            .to_kind(Kind::Int64)
            .to_device(device);
        Tensors { images, labels }
    }

    /// Number of images.
    pub fn len(&self) -> i64 {
        self.labels.size()[0]
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The same tensors (no copy).
    pub fn shallow_clone(&self) -> Tensors {
        Tensors {
            images: self.images.shallow_clone(),
            labels: self.labels.shallow_clone(),
        }
    }

    /// Splits off a seeded random `fraction` as a hold-out: `(rest, holdout)`.
    pub fn split_holdout(&self, fraction: f64, seed: u64) -> anyhow::Result<(Tensors, Tensors)> {
        let n = self.len();
        let k = (n as f64 * fraction).round() as i64;
        if k < 1 || k >= n {
            anyhow::bail!(
                "a hold-out of {fraction} of {n} images leaves nothing to train on or to check"
            );
        }
        let mut order: Vec<i64> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x4_01d0));
        let (hold, rest) = order.split_at(k as usize);
        let pick = |idx: &[i64]| {
            let mut idx = idx.to_vec();
            idx.sort_unstable();
            let t = Tensor::from_slice(&idx).to_device(self.images.device());
            Tensors {
                images: self.images.index_select(0, &t),
                labels: self.labels.index_select(0, &t),
            }
        };
        Ok((pick(rest), pick(hold)))
    }
}

/// The device training uses: the first CUDA device when libtorch sees one, else the CPU.
pub fn default_device() -> Device {
    Device::cuda_if_available()
}
