//! The `trainer` command line: one subcommand per verb, each in `commands/`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use trainer::nn::Arch;
use trainer::train::{Flip, Optimizer, Precision, Schedule};
use trainer_core::data::image_input::Reading;

mod commands;

/// Train, cross-validate, evaluate, quantize and export the Fashion-MNIST CNN.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect, verify or download the dataset.
    Data {
        #[command(subcommand)]
        action: DataAction,
    },
    /// k-fold cross-validation with a fresh model per fold.
    Cv(CvCommand),
    /// Fit the final model on all training images, evaluate it and export int8 (the main job).
    Fit(FitArgs),
    /// Test-set accuracy, per-class accuracy and confusion matrix of a saved model.
    Evaluate(EvaluateArgs),
    /// Classify image files (PNG, JPEG, ...) with a saved model.
    Predict(PredictArgs),
    /// Quantize a saved float model to int8 and write `model.fmq`.
    Export(ExportArgs),
    /// Compare cross-validation results of two or more runs.
    Compare(CompareArgs),
    /// Write the sample camera frames that the firmware classifies.
    Frames(FramesArgs),
    /// Look through the board's camera over its USB serial port: save a frame, watch the
    /// answers, or record labelled frames for training.
    Camera(CameraArgs),
}

#[derive(Debug, Subcommand)]
enum DataAction {
    /// Write a PNG grid of the first nine training images with their class names.
    Show {
        #[command(flatten)]
        data: DataArgs,
        /// Output PNG.
        #[arg(long, default_value = "docs/figures/first-nine.png")]
        out: PathBuf,
    },
    /// Download the four official files and verify their checksums.
    Download {
        /// Target folder (default: the per-user cache, ~/.cache/fashion-mnist).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Base URL of the files.
        #[arg(long, default_value = trainer_core::data::download::OFFICIAL_BASE_URL)]
        url: String,
    },
    /// Verify the dataset's files against the official checksums.
    Verify {
        #[command(flatten)]
        data: DataArgs,
    },
}

/// Where the dataset is.
#[derive(Debug, Clone, Args)]
struct DataArgs {
    /// Folder holding the four Fashion-MNIST IDX files (gzip or raw), or, for `trainer
    /// fit` and `trainer evaluate`, labelled picture folders DIR/<class name>/*.png|jpg
    /// (told apart by what the folder holds; both at once is an error). Fashion-MNIST
    /// by default, and beside a picture folder: $FASHION_MNIST_DIR,
    /// /usr/share/datasets/fashion-mnist, then ~/.cache/fashion-mnist.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
}

/// How a labelled picture folder (`--data DIR/<class name>/...`) is read and split.
#[derive(Debug, Clone, Args)]
struct PictureArgs {
    /// Fraction of the pictures held out for evaluation (chosen per file from its
    /// content, so adding pictures never moves the others; never trained on).
    #[arg(long, value_name = "F", default_value_t = trainer_core::data::folders::DEFAULT_HELD_OUT)]
    held_out: f64,
    /// Seed of the held-out choice (`trainer evaluate` uses the one the model was
    /// fitted with when it was fitted on the same folder).
    #[arg(long, value_name = "N", default_value_t = 1)]
    held_out_seed: u64,
    /// How to read each picture, as `trainer predict --mode`.
    #[arg(long, value_enum, default_value_t = PictureMode::Scene)]
    picture_mode: PictureMode,
}

impl PictureArgs {
    /// How to read each picture.
    fn reading(&self) -> Reading {
        self.picture_mode.reading()
    }
}

/// Settings shared by every command that trains.
///
/// Every value left out comes from the model's recipe: the seed study's settings
/// (SGD lr 0.01, momentum 0.9, batch 32, 10 epochs, nothing else) for every model but
/// `mcu` and `mcu-long`, whose recipes are in `trainer::train::recipe` (and in
/// `docs/trainer.md`). Without `--model`, `trainer cv` runs `baseline` (the seed study)
/// and `trainer fit` fits `mcu-long`.
#[derive(Debug, Clone, Args)]
struct TrainArgs {
    /// Model: baseline, padded, wide, deep, dense2, mcu, mcu-long, or a layer string such as
    /// c32v,p,f,d100,d10 (cN conv 3x3 same, cNv valid, p max-pool, f flatten, dN dense).
    #[arg(long, value_name = "MODEL")]
    model: Option<Arch>,
    /// Passes over the training data [recipe; seed: 10].
    #[arg(long)]
    epochs: Option<usize>,
    /// Images per step [recipe; seed: 32].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Learning rate, the peak of a schedule [recipe; seed: 0.01].
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// SGD momentum [recipe; seed: 0.9].
    #[arg(long, allow_negative_numbers = true)]
    momentum: Option<f64>,
    /// Optimizer [recipe; seed: sgd].
    #[arg(long, value_enum)]
    optimizer: Option<Optimizer>,
    /// Weight decay: L2 for sgd, decoupled for adamw [recipe; seed: 0].
    #[arg(long, allow_negative_numbers = true)]
    weight_decay: Option<f64>,
    /// Learning-rate schedule [recipe; seed: constant].
    #[arg(long, value_enum)]
    schedule: Option<Schedule>,
    /// Batch normalization after every convolution: true or false [recipe; seed: false].
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    batch_norm: Option<bool>,
    /// Batch-norm momentum, PyTorch's convention: the fraction of the way each training
    /// batch moves the running statistics to its own, 0..1 [default: 0.1].
    #[arg(long, value_name = "M", allow_negative_numbers = true)]
    bn_momentum: Option<f64>,
    /// Dropout before every dense layer, 0..1 [recipe; seed: 0].
    #[arg(long, allow_negative_numbers = true)]
    dropout: Option<f64>,
    /// Random shifts of up to N pixels, which is pad-and-crop: zero padding of N pixels
    /// on every side, then a 28x28 crop at a random offset [recipe; seed: 0].
    #[arg(long, value_name = "N", visible_alias = "pad-crop")]
    shift: Option<i64>,
    /// Left-right flips: true (random, each image with probability 1/2), false, or
    /// alternate (random in the first epoch, then each image the opposite of the epoch
    /// before) [recipe; seed: false].
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "true")]
    flip: Option<Flip>,
    /// Label smoothing of the cross-entropy, 0..1 [recipe; seed: 0].
    #[arg(long, allow_negative_numbers = true)]
    label_smoothing: Option<f64>,
    /// Random erasing: with probability P, an image gets one rectangle set to 0 (2-33 %
    /// of its area, aspect ratio 0.3-3.3), after the shift and flip [default: 0, off].
    #[arg(long, value_name = "P", allow_negative_numbers = true)]
    erase: Option<f64>,
    /// Weight averaging: an exponential moving average of the weights and batch-norm
    /// statistics with this decay (e.g. 0.999, warmed up over the first steps); it is
    /// what is validated, saved and exported [default: off].
    #[arg(long, value_name = "DECAY", allow_negative_numbers = true)]
    ema: Option<f64>,
    /// Lookahead: every --lookahead-every optimizer steps, slow weights move this
    /// fraction of the way to the trained ones, which are then set to them (batch-norm
    /// statistics included), 0..1, e.g. 0.5 [default: off].
    #[arg(long, value_name = "ALPHA", allow_negative_numbers = true)]
    lookahead: Option<f64>,
    /// Optimizer steps between two lookahead synchronisations (with --lookahead).
    #[arg(long, value_name = "K", default_value_t = 5, requires = "lookahead")]
    lookahead_every: usize,
    /// Scene-crop augmentation: with probability P, an image gets a random zoom and
    /// shift, gamma, a residue of background texture, blur and noise, as the scene
    /// preprocessing's crops of garments on textured surfaces look [default: 0, off].
    #[arg(long, value_name = "P", allow_negative_numbers = true)]
    scene_crops: Option<f64>,
    /// Training on scene crops: after the training images, the scene preprocessing's
    /// model input of each of them drawn as a garment lying on wood, fabric or paper
    /// (`camera::scene`; the kinds of `photo-eval` used while developing it, never the
    /// held-out ones), where it finds the garment: about 1.85 times the images per
    /// epoch, and a minute or more to draw them first.
    #[arg(long)]
    scene_train: bool,
    /// With --scene-train: the share of the training images drawn as scenes, spread
    /// evenly over the set (0.5: every other one) [default: 1, all].
    #[arg(long, value_name = "F")]
    scene_share: Option<f64>,
    /// Fine-tuning: start from the weights of a saved model folder (as `trainer fit`
    /// writes it; same --model and --batch-norm) instead of a fresh initialisation; its
    /// path and weights' SHA-256 are recorded [default: none].
    #[arg(long, value_name = "DIR")]
    init: Option<PathBuf>,
    /// Knowledge distillation from a saved model folder (as `trainer fit` writes it):
    /// the loss becomes (1-A)·CE + A·T²·KL(teacher/T ‖ model/T), the teacher in eval
    /// mode on the same augmented batch; its path and weights' SHA-256 are recorded
    /// [default: none].
    #[arg(long, value_name = "DIR")]
    teacher: Option<PathBuf>,
    /// Weight A of the distillation term, 0..1 (with --teacher).
    #[arg(
        long,
        value_name = "A",
        default_value_t = 0.5,
        requires = "teacher",
        allow_negative_numbers = true
    )]
    distill_alpha: f64,
    /// Temperature T of the distillation softmaxes, > 0 (with --teacher).
    #[arg(
        long,
        value_name = "T",
        default_value_t = 4.0,
        requires = "teacher",
        allow_negative_numbers = true
    )]
    distill_temperature: f64,
    /// Early stopping: stop after P epochs without a lower loss on a hold-out carved
    /// from the training data, and keep the best epoch's weights [default: off].
    #[arg(long, value_name = "P")]
    patience: Option<usize>,
    /// Fraction of the training data held out for early stopping.
    #[arg(long, default_value_t = 0.1, requires = "patience")]
    holdout: f64,
    /// Seed of weight initialisation, batch order, dropout and augmentation.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Use only the first N training images (for quick runs).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// libtorch intra-op threads (default: libtorch's choice, one per core).
    #[arg(long)]
    threads: Option<i32>,
    /// Precision of the training steps: fp32; bf16 (mixed: bf16 convolutions and dense
    /// layers; fp32 batch norm, loss, weights and optimizer state); or auto: bf16 where a
    /// short start-up probe finds it clearly faster on the device (a CPU with native bf16
    /// kernels), else fp32. Default: auto for `fit`, fp32 for `cv` (the study's protocol,
    /// comparable with every recorded cross-validation). Records hold the precision used;
    /// evaluation is always fp32.
    #[arg(long, value_enum)]
    precision: Option<Precision>,
    /// Train on the CPU even when CUDA is available.
    #[arg(long)]
    cpu: bool,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
struct CvCommand {
    #[command(subcommand)]
    action: Option<CvAction>,
    #[command(flatten)]
    args: CvArgs,
}

#[derive(Debug, Subcommand)]
enum CvAction {
    /// Merge the fold-*.json files in a folder into cv.json and the plots.
    Merge {
        /// The folder written by `trainer cv --fold K --out DIR` runs.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Clone, Args)]
struct CvArgs {
    #[command(flatten)]
    train: TrainArgs,
    /// Number of folds.
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Run only fold K (0-based) and write fold-K.json (of repeat --repeat R: fold-K-repeat-R.json);
    /// merge later with `trainer cv merge`.
    #[arg(long, value_name = "K")]
    fold: Option<usize>,
    /// Seed of the shuffle that assigns images to folds (of the first repeat; repeat r
    /// uses SPLIT_SEED + r).
    #[arg(long, default_value_t = 1)]
    split_seed: u64,
    /// Repeated k-fold: run the k folds R times, each time on another split (split seed
    /// SPLIT_SEED + r for repeat r), a fresh model per fold; the report holds all R x k
    /// folds and `trainer compare` pairs them by (repeat, fold).
    #[arg(long, value_name = "R", default_value_t = 1)]
    repeats: usize,
    /// With --fold: the fold is of repeat R (0-based) and goes to fold-K-repeat-R.json.
    #[arg(long, value_name = "R", requires = "fold")]
    repeat: Option<usize>,
    /// Output folder (default: runs/cv-<model>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run N folds at once, each in its own worker process (`trainer cv --fold K`) with
    /// --threads if given, else cores / N libtorch threads (at least 1); each fold's file
    /// is written as it finishes and all are merged at the end. Default: min(folds x
    /// repeats, cores);
    /// 1 when training runs on a CUDA device (the folds take turns on the one GPU).
    /// `--jobs 1` runs the folds one after another in this process, with libtorch's
    /// default threads unless --threads says otherwise.
    #[arg(long, value_name = "N", conflicts_with = "fold")]
    jobs: Option<usize>,
    /// Accept a --teacher that was fitted on the validation images of the folds being
    /// run (its results then overstate what the student learnt); without it such a
    /// teacher is refused: fit one per fold with `trainer fit --leave-out-fold K`.
    #[arg(long, requires = "teacher")]
    leaky_teacher: bool,
    /// Report progress as lines on stdout, for a parent `cv --jobs` process.
    #[arg(long, hide = true)]
    progress_lines: bool,
}

#[derive(Debug, Clone, Args)]
struct FitArgs {
    #[command(flatten)]
    train: TrainArgs,
    /// Folder name of the model under --models (default: the model's name).
    #[arg(long)]
    name: Option<String>,
    /// Root folder of saved models; the model goes to <ROOT>/<model>/.
    #[arg(long, default_value = "models")]
    models: PathBuf,
    /// Evaluate on only the first N test images.
    #[arg(long, value_name = "N")]
    test_limit: Option<usize>,
    /// Skip the int8 export.
    #[arg(long)]
    no_export: bool,
    /// Training images used to calibrate the int8 activation ranges.
    #[arg(long, default_value_t = 2000)]
    calib: usize,
    /// Continue an interrupted run from its last checkpoint (same settings and thread
    /// count; the result is byte-identical to an uninterrupted run).
    #[arg(long)]
    resume: bool,
    /// With a picture folder: the fraction of each epoch's images drawn from the
    /// Fashion-MNIST training split (a seeded sample, fixed for the run), so that the
    /// model does not forget the studio images; 0..1 [default: 0, pictures only].
    #[arg(long, value_name = "F", allow_negative_numbers = true)]
    mix: Option<f64>,
    /// With a picture folder: classes of your own, one per folder, named as the folder
    /// (at most 20 bytes; 2 to 32 classes): the model gets a new output layer of that
    /// size, every other layer loaded from --init, and the names travel in fit.json and
    /// the .fmq.
    #[arg(long)]
    own_classes: bool,
    #[command(flatten)]
    pictures: PictureArgs,
    #[command(flatten)]
    leave_out: LeaveOutArgs,
}

/// `trainer fit --leave-out-fold K`: train on fold K's training part of the split that
/// `trainer cv` would make with the same numbers, e.g. a teacher for that fold.
#[derive(Debug, Clone, Args)]
struct LeaveOutArgs {
    /// Leave cross-validation fold K (0-based) out of the training images: the model
    /// trains on the other folds only and is recorded as not having seen fold K, so it
    /// can teach `trainer cv --fold K` (with the same --folds, --split-seed, --repeat
    /// and --limit) [default: train on every image].
    #[arg(long, value_name = "K")]
    leave_out_fold: Option<usize>,
    /// With --leave-out-fold: the number of folds of the split.
    #[arg(long, default_value_t = 5, requires = "leave_out_fold")]
    folds: usize,
    /// With --leave-out-fold: the seed of the split (of repeat 0; repeat r uses
    /// SPLIT_SEED + r), as `trainer cv --split-seed`.
    #[arg(long, default_value_t = 1, requires = "leave_out_fold")]
    split_seed: u64,
    /// With --leave-out-fold: the fold is of repeat R (0-based) of repeated k-fold.
    #[arg(
        long,
        value_name = "R",
        default_value_t = 0,
        requires = "leave_out_fold"
    )]
    repeat: usize,
}

/// Which saved model to use.
#[derive(Debug, Clone, Args)]
struct ModelArgs {
    /// Name of the saved model: its folder <ROOT>/<MODEL>/ (as written by `trainer fit`).
    #[arg(long, default_value = trainer::nn::DEFAULT_MODEL)]
    model: String,
    /// Root folder of saved models.
    #[arg(long, default_value = "models")]
    models: PathBuf,
}

#[derive(Debug, Clone, Args)]
struct EvaluateArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Also evaluate the int8 export through infer-core.
    #[arg(long)]
    int8: bool,
    /// Evaluate on only the first N test images.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Write eval.json and confusion PNGs into this folder (default: the model's folder;
    /// for a picture folder eval-pictures.json and confusion-pictures*.png).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    pictures: PictureArgs,
}

#[derive(Debug, Clone, Args)]
struct PredictArgs {
    /// Image files (PNG, JPEG, BMP, GIF, PNM), any size, colour or grey.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// Print the K most likely classes.
    #[arg(long, default_value_t = 1)]
    top: usize,
    /// Print one JSON object per image instead of text.
    #[arg(long)]
    json: bool,
    /// Predict with the int8 export through infer-core.
    #[arg(long)]
    int8: bool,
    /// How to read each picture: `scene`, the firmware's path, finds a garment light or
    /// dark on a surface of any level, plain or textured, unevenly lit (a desk, a
    /// fabric, a cast shadow), and reads a dataset-style picture (a light garment on
    /// dark, as in Fashion-MNIST) the dataset way; `auto`, the earlier reading, decides
    /// per picture between `dataset` (resized whole) and `photo` (a dark garment on a
    /// plain light background, anywhere: found, cropped, resized, inverted). A picture
    /// without a garment is answered "no garment found".
    #[arg(long, value_enum, default_value_t = PictureMode::Scene)]
    mode: PictureMode,
    /// Deprecated: the same as `--mode photo`.
    #[arg(long, hide = true, conflicts_with = "mode")]
    camera: bool,
}

/// `trainer predict --mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PictureMode {
    /// The earlier reading: decide per picture between `dataset` and `photo`.
    Auto,
    /// A light garment on a dark background, filling the picture.
    Dataset,
    /// A dark garment on a light background, anywhere in the frame.
    Photo,
    /// A garment lighter or darker than a surface of any level, plain or textured,
    /// unevenly lit; dataset-style pictures the dataset way: the scene path
    /// (`camera::scene`), as the firmware reads its frames (the default).
    Scene,
}

impl PictureMode {
    /// How to read each picture.
    fn reading(self) -> Reading {
        match self {
            PictureMode::Photo => Reading::Forced(camera::Mode::Photo),
            PictureMode::Dataset => Reading::Forced(camera::Mode::Dataset),
            PictureMode::Auto => Reading::Auto,
            PictureMode::Scene => Reading::Scene,
        }
    }
}

impl PredictArgs {
    /// How to read each picture.
    fn reading(&self) -> Reading {
        if self.camera {
            Reading::Forced(camera::Mode::Photo)
        } else {
            self.mode.reading()
        }
    }
}

#[derive(Debug, Clone, Args)]
struct ExportArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Training images used to calibrate the activation ranges.
    #[arg(long, default_value_t = 2000)]
    calib: usize,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Clone, Args)]
struct CompareArgs {
    /// cv.json files (or folders holding one) to compare; the first is the reference.
    #[arg(required = true, num_args = 2..)]
    runs: Vec<PathBuf>,
    /// Write a box plot of all runs to this PNG.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Print the summaries, tests and verdicts as JSON (fractions, not percent) for scripts.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Args)]
struct FramesArgs {
    /// Number of frames.
    #[arg(long, default_value_t = 10)]
    count: usize,
    /// Instead of sample frames from the test set, fit these pictures (any format and
    /// size) into 160x120 frames for the firmware (`scripts/run-firmware.sh`).
    #[arg(long, num_args = 1.., value_name = "PICTURE")]
    pictures: Vec<PathBuf>,
    /// Output folder.
    #[arg(long, default_value = "firmware/frames")]
    out: PathBuf,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Clone, Args)]
struct CameraArgs {
    /// The board's serial port (Linux: /dev/ttyACM0; macOS: /dev/cu.usbmodem...).
    #[arg(long, default_value = "/dev/ttyACM0")]
    port: PathBuf,
    /// Seconds to wait for the board's answer to start, and then for it to end.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    timeout: f64,
    /// Times a damaged or cut-off answer is asked for again before giving up.
    #[arg(long, default_value_t = 3)]
    retries: u32,
    #[command(subcommand)]
    action: CameraAction,
}

#[derive(Debug, Clone, Subcommand)]
enum CameraAction {
    /// Save the next frame (frame.png, 160x120), the model's input (input.png, 28x28,
    /// and input-x8.png, enlarged) and print the board's answer.
    Snap {
        /// Folder for the PNGs (files of the same names are replaced).
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Print the board's answer frame after frame until Ctrl-C.
    Watch,
    /// Record frames for training as DIR/<LABEL>/<n>.png (torchvision ImageFolder's
    /// layout), numbered after the files already there; nothing is overwritten.
    Record {
        /// The dataset folder.
        dir: PathBuf,
        /// The class of the garment in front of the camera (the folder name).
        #[arg(long)]
        label: String,
        /// Frames to record.
        #[arg(long, default_value_t = 1)]
        count: usize,
    },
}

fn main() -> ExitCode {
    // Before libtorch starts its threads: reuse freed tensor buffers instead of faulting
    // fresh pages in at every training step.
    malloc_tuning::keep_freed_memory();
    let cli = Cli::parse();
    let result = match cli.cmd {
        Command::Data { action } => commands::data::run(action),
        Command::Cv(cmd) => commands::cv::run(cmd),
        Command::Fit(args) => commands::fit::run(args),
        Command::Evaluate(args) => commands::evaluate::run(args),
        Command::Predict(args) => commands::predict::run(args),
        Command::Export(args) => commands::export::run(args),
        Command::Compare(args) => commands::compare::run(args),
        Command::Frames(args) => commands::frames::run(args),
        Command::Camera(args) => commands::camera::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) if e.is::<trainer_core::interrupt::Interrupted>() => {
            eprintln!("{e:#}");
            ExitCode::from(trainer_core::interrupt::EXIT_CODE)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
