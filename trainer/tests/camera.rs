//! `trainer camera` against a board played by a thread over a pseudo-terminal (the
//! binary opens the pseudo-terminal's path as it would /dev/ttyACM0).
#![cfg(unix)]

mod common;
#[path = "../../trainer-core/tests/support/fake_board.rs"]
mod fake_board;

use common::{stderr, stdout_ok, trainer};
use fake_board::{Behaviour, FakeBoard, frame, input};
use serialport::SerialPort;

/// Starts a fake board; returns it, the host end (kept open) and the end's path.
fn board(behaviour: Behaviour) -> (FakeBoard, serialport::TTYPort, String) {
    let (fake, host) = FakeBoard::start(behaviour);
    let path = host.name().expect("a pseudo-terminal has a name");
    (fake, host, path)
}

fn gray(path: &std::path::Path) -> Vec<u8> {
    image::open(path).unwrap().to_luma8().into_raw()
}

#[test]
fn snap_writes_the_frame_and_the_input_and_prints_the_answer() {
    let (_fake, _host, port) = board(Behaviour::Good);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let stdout = stdout_ok(&trainer(&["camera", "--port", &port, "snap", "--out", out]));
    assert!(
        stdout.contains(": Sneaker 87 % (class 7, scores"),
        "{stdout}"
    );
    assert_eq!(gray(&dir.path().join("frame.png")), frame());
    assert_eq!(gray(&dir.path().join("input.png")), input());
    assert!(dir.path().join("input-x8.png").exists());
}

#[test]
fn record_numbers_after_existing_files_and_writes_nothing_on_failure() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    {
        let (_fake, _host, port) = board(Behaviour::Good);
        let args = [
            "camera", "--port", &port, "record", data, "--label", "Shirt", "--count", "2",
        ];
        stdout_ok(&trainer(&args));
        stdout_ok(&trainer(&args));
    }
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("Shirt"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["0.png", "1.png", "2.png", "3.png"]);
    assert_eq!(gray(&dir.path().join("Shirt/3.png")), frame());

    let (_fake, _host, port) = board(Behaviour::DamageAll);
    let out = trainer(&[
        "camera",
        "--port",
        &port,
        "--timeout",
        "0.4",
        "--retries",
        "1",
        "record",
        data,
        "--label",
        "Bag",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("damaged or cut off 2 times") && err.contains("CRC"),
        "{err}"
    );
    assert!(!dir.path().join("Bag").exists());
}

#[test]
fn a_silent_device_and_a_missing_port_are_clear_errors() {
    let (_fake, _host, port) = board(Behaviour::TextOnly);
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().to_str().unwrap();
    let out = trainer(&[
        "camera",
        "--port",
        &port,
        "--timeout",
        "0.3",
        "snap",
        "--out",
        out_dir,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(
            "no answer from the board within 0.3 s; is it running fashion-mnist-mcu firmware?"
        ),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    let out = trainer(&["camera", "--port", "/dev/ttyACM-none", "snap"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("cannot open serial port /dev/ttyACM-none"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn watch_prints_answers_until_ctrl_c() {
    let (_fake, _host, port) = board(Behaviour::Good);
    let child = common::command(&["camera", "--port", &port, "watch"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run trainer");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stdout = common::stdout_ok(&out);
    let answers = stdout
        .lines()
        .filter(|l| l.contains(": Sneaker 87 %"))
        .count();
    assert!(answers >= 2, "{stdout}");
}
