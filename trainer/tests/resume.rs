//! Interrupted runs: `trainer fit` killed (SIGKILL) or stopped (SIGINT) at several
//! points and resumed ends with exactly the bytes of an uninterrupted run, and a model
//! folder never holds files of two runs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod common;
use common::{SMALL_EVAL, assert_fails_with, assert_ok, json, names, set_flag};

/// The run under test: a tiny mcu fit (AdamW, one-cycle, batch norm, shifts, flips,
/// label smoothing, plus dropout) on one thread, with the int8 export.
fn fit_args(models: &Path, seed: &str) -> Vec<String> {
    let mut args = common::fit_args("mcu", "3", "600");
    args.extend(["--dropout", "0.25"]);
    args.extend(SMALL_EVAL);
    args.extend(["--seed", seed, "--models", models.to_str().unwrap()]);
    args.into_iter().map(String::from).collect()
}

fn command(args: &[String], pause: Option<&str>) -> Command {
    let mut c = common::command(args);
    if let Some(p) = pause {
        c.env("TRAINER_TEST_PAUSE", p);
    }
    c
}

fn run(args: &[String]) -> Output {
    common::trainer(args)
}

/// Starts a run that pauses at `point`, waits until `ready` exists, and returns it.
fn start_paused(args: &[String], point: &str, ready: &Path) -> Child {
    start_until(args, point, || ready.exists())
}

/// Starts a run that pauses at `point` and returns it once `ready()` holds.
fn start_until(args: &[String], point: &str, ready: impl Fn() -> bool) -> Child {
    let mut child = command(args, Some(&format!("{point}:60000")))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start trainer");
    let start = Instant::now();
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before it reached {point}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "the run never reached {point}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn sigkill(mut child: Child) {
    // `Child::kill` is SIGKILL on Unix: no handler runs, nothing is cleaned up.
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Asserts that the folder is one run's: a manifest whose digests match every file,
/// and no other file. Returns the seed in its fit.json.
fn consistent_seed(dir: &Path) -> u64 {
    let manifest = json(&dir.join("manifest.json"));
    let files = manifest["files"].as_object().unwrap();
    let on_disk: Vec<String> = names(dir)
        .into_iter()
        .filter(|n| n != "manifest.json")
        .collect();
    let listed: Vec<String> = files.keys().cloned().collect();
    assert_eq!(on_disk, listed, "files in {}", dir.display());
    for (name, digest) in files {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        assert_eq!(
            trainer_core::files::folder::sha256_hex(&bytes),
            digest.as_str().unwrap(),
            "{name} does not belong to the manifest's run"
        );
    }
    json(&dir.join("fit.json"))["config"]["seed"]
        .as_u64()
        .unwrap()
}

fn only_the_model_folder(root: &Path) {
    assert_eq!(
        names(root),
        vec!["mcu".to_owned()],
        "leftovers in {}",
        root.display()
    );
}

fn bytes(dir: &Path, file: &str) -> Vec<u8> {
    std::fs::read(dir.join(file)).unwrap()
}

/// The folder of an uninterrupted run (seed 1) for the others to compare with, made
/// once for all tests here.
fn reference() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = tempfile::tempdir().unwrap().keep().join("reference");
        assert_ok(&run(&fit_args(&root, "1")));
        assert_eq!(consistent_seed(&root.join("mcu")), 1);
        let precision = &json(&root.join("mcu/fit.json"))["config"]["precision"];
        assert_eq!(precision, "fp32", "the precision is recorded");
        only_the_model_folder(&root);
        root.join("mcu")
    })
}

/// Resumes with `resume` and asserts that `root` then holds the reference's model (seed
/// 1, the same bytes of weights and export) and nothing else; `when` names the case.
fn resume_to_the_reference(resume: &[String], root: &Path, when: &str) {
    let dir = root.join("mcu");
    assert_ok(&run(resume));
    assert_eq!(consistent_seed(&dir), 1);
    for f in ["model.safetensors", "model.fmq"] {
        assert!(
            bytes(&dir, f) == bytes(reference(), f),
            "{f} differs from the uninterrupted run's {when}"
        );
    }
    only_the_model_folder(root);
}

#[test]
fn a_killed_fit_resumes_to_the_same_bytes_and_never_mixes_two_runs() {
    reference();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("models");
    let dir = root.join("mcu");
    let staging = root.join(".mcu.partial");
    let ckpt = staging.join("checkpoint.safetensors");
    let args = fit_args(&root, "1");
    let mut resume = args.clone();
    resume.push("--resume".into());

    // An earlier model (seed 7) in the folder that the killed runs replace.
    assert_ok(&run(&fit_args(&root, "7")));
    assert_eq!(consistent_seed(&dir), 7);

    // 1. Killed right after the checkpoint of epoch 1.
    sigkill(start_paused(&args, "checkpoint", &ckpt));
    assert_eq!(consistent_seed(&dir), 7, "the old model is untouched");
    let c = trainer::train::checkpoint::load(&ckpt).unwrap();
    assert_eq!(c.meta.epoch, 1);
    // A plain rerun refuses to throw the checkpoint away; other settings refuse too.
    assert_fails_with(
        &run(&args),
        "holds the checkpoint of an interrupted run (epoch 1 of 3)",
    );
    let mut other = resume.clone();
    set_flag(&mut other, "--epochs", "4".into());
    assert_fails_with(&run(&other), "epochs: 3 there, 4 now");
    let mut other = resume.clone();
    set_flag(&mut other, "--threads", "2".into());
    assert_fails_with(&run(&other), "pass --threads 1 to resume it");
    let mut other = resume.clone();
    set_flag(&mut other, "--limit", "599".into()); // other training data
    assert_fails_with(&run(&other), "other training data");
    // Killed again after epoch 2 of the resumed run, then resumed to the end.
    let mut child = command(&resume, Some("checkpoint:60000"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while trainer::train::checkpoint::load(&ckpt).map_or(1, |c| c.meta.epoch) < 2 {
        assert!(start.elapsed() < Duration::from_secs(300));
        assert!(child.try_wait().unwrap().is_none());
        std::thread::sleep(Duration::from_millis(20));
    }
    sigkill(child);
    assert_eq!(consistent_seed(&dir), 7);
    resume_to_the_reference(&resume, &root, "(killed twice)");
    assert_fails_with(&run(&resume), "no checkpoint to resume");

    // 2. Killed after the new weights are staged, before the evaluation and export
    // (the case of issue 12): the folder is still wholly the previous run's.
    sigkill(start_paused(
        &fit_args(&root, "7"),
        "outputs",
        &staging.join("model.safetensors"),
    ));
    assert_eq!(consistent_seed(&dir), 1);
    assert_ok(&run(&{
        let mut a = fit_args(&root, "7");
        a.push("--resume".into());
        a
    }));
    assert_eq!(consistent_seed(&dir), 7);
    only_the_model_folder(&root);

    // 3. Killed between the two renames of the swap: the previous folder is aside and
    // none is under the name; the next command (here a reader) puts it back first, and
    // `--resume` finishes the swap.
    sigkill(start_until(&args, "swap", || !dir.exists()));
    assert!(!dir.exists());
    let r = run(&[
        "evaluate".into(),
        "--models".into(),
        root.to_str().unwrap().into(),
        "--model".into(),
        "mcu".into(),
        "--limit".into(),
        "50".into(),
    ]);
    assert_ok(&r);
    assert!(String::from_utf8_lossy(&r.stderr).contains("restored"));
    assert_eq!(consistent_seed(&dir), 7);
    resume_to_the_reference(&resume, &root, "(after the swap)");
}

#[test]
fn ctrl_c_stops_cleanly_and_says_how_to_resume() {
    let want = reference();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("models");
    let staging = root.join(".mcu.partial");
    let args = fit_args(&root, "1");
    let mut child = command(&args, Some("checkpoint:3000"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ckpt = staging.join("checkpoint.safetensors");
    let start = Instant::now();
    while !ckpt.exists() {
        assert!(start.elapsed() < Duration::from_secs(300));
        std::thread::sleep(Duration::from_millis(20));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = {
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        use std::io::Read;
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (status, stderr)
    };
    assert_eq!(out.0.code(), Some(130), "{}", out.1);
    assert!(out.1.contains("interrupted"), "{}", out.1);
    assert!(out.1.contains("--resume"), "{}", out.1);
    assert!(!out.1.contains("panicked"), "{}", out.1);
    assert!(!root.join("mcu").exists());
    assert_eq!(
        names(&staging),
        vec!["checkpoint.safetensors".to_owned()],
        "only the checkpoint stays"
    );
    let mut resume = args.clone();
    resume.push("--resume".into());
    assert_ok(&run(&resume));
    let dir = root.join("mcu");
    assert!(bytes(&dir, "model.safetensors") == bytes(want, "model.safetensors"));
    only_the_model_folder(&root);
}

#[test]
fn a_bf16_fit_resumes_to_the_same_bytes_records_bf16_and_exports_fp32_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let args = |root: &Path| {
        let mut a = fit_args(root, "2");
        // Two epochs: the checkpoint of the first, then one more (bf16 is slow on CPUs
        // without bf16 kernels).
        set_flag(&mut a, "--epochs", "2".to_owned());
        // And few images: the bytes of a resume do not depend on how many.
        set_flag(&mut a, "--limit", "256".to_owned());
        set_flag(&mut a, "--precision", "bf16".to_owned());
        a
    };
    let whole = tmp.path().join("whole");
    assert_ok(&run(&args(&whole)));
    let root = tmp.path().join("resumed");
    let ckpt = root.join(".mcu.partial/checkpoint.safetensors");
    sigkill(start_paused(&args(&root), "checkpoint", &ckpt));
    let saved = trainer::train::checkpoint::load(&ckpt).unwrap();
    assert_eq!(saved.meta.epoch, 1);
    assert_eq!(saved.meta.config.precision, trainer::train::Precision::Bf16);
    // A resume must train in the checkpoint's precision.
    let mut other = args(&root);
    set_flag(&mut other, "--precision", "fp32".to_owned());
    other.push("--resume".into());
    assert_fails_with(&run(&other), "precision");
    let mut resume = args(&root);
    resume.push("--resume".into());
    assert_ok(&run(&resume));
    for f in ["model.safetensors", "model.fmq"] {
        assert!(
            bytes(&root.join("mcu"), f) == bytes(&whole.join("mcu"), f),
            "{f} differs from the uninterrupted bf16 run's"
        );
    }
    let record = json(&whole.join("mcu/fit.json"));
    assert_eq!(record["config"]["precision"], "bf16");
    let weights = bytes(&whole.join("mcu"), "model.safetensors");
    let tensors = safetensors::SafeTensors::deserialize(&weights).unwrap();
    for (name, view) in tensors.tensors() {
        assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}");
    }
}

#[test]
fn sgd_with_weight_decay_and_early_stopping_resumes_to_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let args = |root: &Path| -> Vec<String> {
        [
            "fit",
            "--model",
            "baseline",
            "--epochs",
            "3",
            "--limit",
            "600",
            "--weight-decay",
            "0.001",
            "--dropout",
            "0.2",
            "--patience",
            "2",
            "--no-export",
            "--test-limit",
            "50",
            "--threads",
            "1",
            "--models",
            root.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec()
    };
    let whole = tmp.path().join("whole");
    assert_ok(&run(&args(&whole)));
    let root = tmp.path().join("resumed");
    let ckpt = root.join(".baseline.partial/checkpoint.safetensors");
    sigkill(start_paused(&args(&root), "checkpoint", &ckpt));
    let saved = trainer::train::checkpoint::load(&ckpt).unwrap();
    assert_eq!(saved.meta.epoch, 1);
    assert!(
        saved.meta.best.is_some(),
        "the early-stopping state is saved"
    );
    assert!(
        saved.tensors.contains_key("opt.m/fc1.weight"),
        "momentum buffers saved"
    );
    let mut resume = args(&root);
    resume.push("--resume".into());
    assert_ok(&run(&resume));
    let file = "model.safetensors";
    assert!(bytes(&root.join("baseline"), file) == bytes(&whole.join("baseline"), file));
}

#[test]
fn a_second_fit_of_the_same_name_refuses_while_the_first_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    let args = fit_args(&models, "5");
    let checkpoint = models.join(".mcu.partial").join("checkpoint.safetensors");
    let first = start_paused(&args, "checkpoint", &checkpoint);
    let before = std::fs::read(&checkpoint).unwrap();

    let second = run(&args);
    assert_fails_with(&second, "another `trainer fit` of model \"mcu\" is running");
    assert_fails_with(&second, &format!("(process {})", first.id()));
    let mut resume = args.clone();
    resume.push("--resume".to_owned());
    assert_fails_with(&run(&resume), "another `trainer fit` of model \"mcu\"");
    assert_eq!(
        std::fs::read(&checkpoint).unwrap(),
        before,
        "the first run's staging folder was touched"
    );

    // The lock goes with the process, however it ends: the killed run resumes.
    sigkill(first);
    assert_ok(&run(&resume));
    only_the_model_folder(&models);
}

#[test]
fn weight_averaging_erasing_and_distillation_resume_to_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let small = "c8,p,f,d10";
    let teachers = tmp.path().join("teachers");
    let mut teacher = common::fit_args(small, "1", "600");
    teacher.extend(["--no-export", "--test-limit", "50", "--threads", "1"]);
    teacher.extend(["--models", teachers.to_str().unwrap()]);
    assert_ok(&run(&teacher
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()));
    let teacher = teachers.join(small);
    let args = |root: &Path| -> Vec<String> {
        let mut a = common::fit_args(small, "3", "600");
        a.extend([
            "--batch-norm",
            "--shift",
            "2",
            "--erase",
            "0.5",
            "--ema",
            "0.9",
        ]);
        a.extend(["--teacher", teacher.to_str().unwrap(), "--no-export"]);
        a.extend(["--test-limit", "50", "--threads", "1"]);
        a.extend(["--models", root.to_str().unwrap()]);
        a.into_iter().map(String::from).collect()
    };
    resumes_to_the_whole_run(
        tmp.path(),
        small,
        args,
        &["ema/conv.weight", "ema/bn.running_mean", "ema/fc1.bias"],
    );
}

#[test]
fn the_epoch_levers_resume_to_the_same_bytes() {
    // Lookahead's slow weights are checkpointed; alternating flips depend on the epoch
    // and each image's index only; Nesterov's buffer is SGD's.
    let tmp = tempfile::tempdir().unwrap();
    let small = "c8,p,f,d10";
    let args = |root: &Path| -> Vec<String> {
        let mut a = common::fit_args(small, "3", "600");
        a.extend(["--batch-norm", "--bn-momentum", "0.4", "--shift", "1"]);
        a.extend([
            "--flip",
            "alternate",
            "--lookahead",
            "0.5",
            "--lookahead-every",
            "3",
        ]);
        a.extend(["--optimizer", "sgd-nesterov", "--lr", "0.02", "--no-export"]);
        a.extend(["--test-limit", "50", "--threads", "1"]);
        a.extend(["--models", root.to_str().unwrap()]);
        a.into_iter().map(String::from).collect()
    };
    let whole = resumes_to_the_whole_run(
        tmp.path(),
        small,
        args,
        &["lookahead/conv.weight", "lookahead/bn.running_var"],
    );
    let fit = json(&whole.join(small).join("fit.json"));
    let train = &fit["config"];
    assert_eq!(train["optimizer"], "sgd-nesterov", "{train}");
    assert_eq!(train["bn_momentum"], 0.4);
    assert_eq!(train["augment"]["alternate_flip"], true);
    assert_eq!(train["lookahead"]["every"], 3);
}

/// Runs the fit `args(root)` of model `small` whole (under `tmp/whole`, returned), then
/// again killed at its first checkpoint, which must hold the tensors `names`, and
/// resumed (under `tmp/resumed`); both must end with the same weights.
fn resumes_to_the_whole_run(
    tmp: &Path,
    small: &str,
    args: impl Fn(&Path) -> Vec<String>,
    names: &[&str],
) -> PathBuf {
    let whole = tmp.join("whole");
    assert_ok(&run(&args(&whole)));
    let root = tmp.join("resumed");
    let ckpt = root.join(format!(".{small}.partial/checkpoint.safetensors"));
    sigkill(start_paused(&args(&root), "checkpoint", &ckpt));
    let saved = trainer::train::checkpoint::load(&ckpt).unwrap();
    assert_eq!(saved.meta.epoch, 1);
    for name in names {
        assert!(
            saved.tensors.contains_key(*name),
            "{name} not in the checkpoint"
        );
    }
    let mut resume = args(&root);
    resume.push("--resume".into());
    assert_ok(&run(&resume));
    let file = "model.safetensors";
    assert!(bytes(&root.join(small), file) == bytes(&whole.join(small), file));
    whole
}
