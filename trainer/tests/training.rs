//! Training on small fixed slices of the real dataset (installed by scripts/setup.sh).

use tch::Device;
use trainer::cv::{self, CvConfig};
use trainer::data::{self, Split};
use trainer::model::Arch;
use trainer::train::{self, Tensors, TrainConfig};

fn train_slice(n: usize) -> data::Dataset {
    let dir = data::locate(None).expect("the dataset is installed by scripts/setup.sh");
    data::load(&dir, Split::Train).unwrap().head(n)
}

fn small_cv(epochs: usize) -> CvConfig {
    CvConfig {
        train: TrainConfig {
            epochs,
            ..TrainConfig::default()
        },
        folds: 2,
        split_seed: 1,
        limit: Some(2000),
    }
}

#[test]
fn the_real_data_loads_with_the_official_shapes() {
    let dir = data::locate(None).unwrap();
    let test = data::load(&dir, Split::Test).unwrap();
    assert_eq!(test.len(), 10_000);
    let mut counts = [0usize; data::NUM_CLASSES];
    for &l in &test.labels {
        counts[usize::from(l)] += 1;
    }
    assert_eq!(counts, [1000; data::NUM_CLASSES]);
    let t = Tensors::new(&test.head(10), Device::Cpu);
    let (min, max) = (
        t.images.min().double_value(&[]),
        t.images.max().double_value(&[]),
    );
    assert!(
        min >= 0.0 && max <= 1.0 && max > 0.99,
        "pixels scaled to [0,1]"
    );
}

#[test]
fn two_folds_of_one_epoch_learn_far_above_chance() {
    let data = train_slice(2000);
    let cfg = small_cv(1);
    let splits = cv::kfold(data.len(), 2, 1).unwrap();
    let results: Vec<_> = (0..2)
        .map(|f| cv::run_fold(&data, &splits, f, &cfg, Device::Cpu).unwrap())
        .collect();
    for r in &results {
        assert!(r.accuracy > 0.6, "fold {} accuracy {}", r.fold, r.accuracy);
        assert_eq!(r.history.len(), 1);
        assert!(r.history[0].val_loss.unwrap() < 2.0);
    }
    let report = cv::merge(cfg, results).unwrap();
    assert!(report.mean > 0.6);
}

#[test]
fn every_fold_starts_from_a_fresh_model() {
    // The seed study built one model and kept training it fold after fold, so later
    // folds started from weights that had already seen their validation images.
    let data = train_slice(400);
    let cfg = small_cv(1);
    let splits = cv::kfold(data.len(), 2, 1).unwrap();
    let first = cv::run_fold(&data, &splits, 0, &cfg, Device::Cpu).unwrap();
    let second = cv::run_fold(&data, &splits, 1, &cfg, Device::Cpu).unwrap();
    let (fresh, _net) = train::fresh_model(Arch::Baseline, cv::fold_seed(1, 1), Device::Cpu);
    assert_eq!(second.initial_params, train::param_digest(&fresh));
    assert_ne!(second.initial_params, first.final_params);
    assert_ne!(
        first.initial_params, first.final_params,
        "training changed the weights"
    );
}

#[test]
fn training_repeats_exactly_with_the_same_seed() {
    let data = train_slice(300);
    let t = Tensors::new(&data, Device::Cpu);
    let cfg = TrainConfig {
        epochs: 1,
        ..TrainConfig::default()
    };
    let run = || {
        let (vs, net) = train::fresh_model(Arch::Baseline, 5, Device::Cpu);
        train::train(&vs, &net, &t, None, &TrainConfig { seed: 5, ..cfg }, "t").unwrap();
        train::param_digest(&vs)
    };
    assert_eq!(run(), run());
}
