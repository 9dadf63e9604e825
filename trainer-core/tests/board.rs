//! The host's side of the serial link against a board played by a thread with
//! `camera::link`'s board-side code, over a pseudo-terminal pair: good, damaged,
//! truncated and missing answers, another protocol version, a missing port.
#![cfg(unix)]

use std::time::Duration;

use trainer_core::board::{self, Board, BoardError, Options};

#[path = "support/fake_board.rs"]
mod fake_board;

use fake_board::{Behaviour, FakeBoard, H, W, frame, input};

fn quick() -> Options {
    Options {
        timeout: Duration::from_millis(400),
        retries: 2,
    }
}

#[test]
fn a_good_snap_gives_pngs_equal_to_the_frame_sent() {
    let (fake, port) = FakeBoard::start(Behaviour::Good);
    let mut b = Board::new(port, quick());
    let snap = b.snap().expect("an answer");
    assert_eq!((snap.width, snap.height), (W as u32, H as u32));
    assert_eq!(snap.frame, frame());
    assert_eq!(snap.input, input());
    assert!(
        snap.line()
            .ends_with(": Sneaker 87 % (class 7, scores -9 -8 -7 -6 -5 -4 -3 90 -1 0)"),
        "{}",
        snap.line()
    );
    // And again: the second request gets the second answer.
    let again = b.snap().expect("a second answer");
    assert!(again.frame_number > snap.frame_number);
    assert_eq!(fake.requests(), 2);

    let dir = tempfile::tempdir().unwrap();
    let paths = board::save_snapshot(&snap, dir.path()).unwrap();
    let read = |name: &str| image::open(dir.path().join(name)).unwrap().to_luma8();
    let f = read("frame.png");
    assert_eq!(f.dimensions(), (160, 120));
    assert_eq!(f.into_raw(), frame());
    assert_eq!(read("input.png").into_raw(), input());
    let big = read("input-x8.png");
    assert_eq!(big.dimensions(), (224, 224));
    assert_eq!(big.get_pixel(8 * 5 + 7, 8 * 3).0[0], input()[3 * 28 + 5]);
    assert_eq!(paths.len(), 3);
}

#[test]
fn a_damaged_answer_is_asked_again() {
    let (fake, port) = FakeBoard::start(Behaviour::DamageFirst);
    let snap = Board::new(port, quick())
        .snap()
        .expect("the retry's answer");
    assert_eq!(snap.frame, frame());
    assert_eq!(fake.requests(), 2);
}

#[test]
fn always_damaged_answers_are_a_clear_error_after_the_retries() {
    let (fake, port) = FakeBoard::start(Behaviour::DamageAll);
    let e = Board::new(port, quick()).snap().unwrap_err();
    assert!(
        matches!(e, BoardError::Damaged { attempts: 3, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("CRC mismatch"), "{e}");
    assert_eq!(fake.requests(), 3);
}

#[test]
fn truncated_answers_are_a_clear_error_after_the_retries() {
    let (_fake, port) = FakeBoard::start(Behaviour::Truncate);
    let e = Board::new(port, quick()).snap().unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(e, BoardError::Damaged { attempts: 3, .. }),
        "{e:?}"
    );
    assert!(text.contains("cut off after"), "{text}");
}

#[test]
fn a_device_that_never_answers_is_named_after_the_timeout() {
    let (fake, port) = FakeBoard::start(Behaviour::TextOnly);
    let t = std::time::Instant::now();
    let e = Board::new(port, quick()).snap().unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, BoardError::NoAnswer { .. }), "{e:?}");
    assert!(
        text.contains("no answer from the board")
            && text.contains("is it running fashion-mnist-mcu firmware?")
            && text.contains("Sneaker 87 %"),
        "{text}"
    );
    assert!(t.elapsed() >= Duration::from_millis(400));
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(fake.requests(), 1);
}

#[test]
fn a_board_of_another_protocol_version_is_named() {
    let (_fake, port) = FakeBoard::start(Behaviour::Version2);
    let e = Board::new(port, quick()).snap().unwrap_err();
    assert!(
        matches!(e, BoardError::VersionMismatch { board: 2, ours: 1 }),
        "{e:?}"
    );
    assert!(e.to_string().contains("protocol version mismatch"));
}

#[test]
fn a_missing_port_is_a_clear_error() {
    let e = board::open(std::path::Path::new("/dev/ttyACM-none"), quick()).unwrap_err();
    let text = format!("{e:#}");
    assert!(
        text.contains("cannot open serial port /dev/ttyACM-none")
            && text.contains("is the board plugged in?"),
        "{text}"
    );
}

#[test]
fn ctrl_c_ends_a_wait() {
    let (_fake, port) = FakeBoard::start(Behaviour::TextOnly);
    let options = Options {
        timeout: Duration::from_secs(30),
        retries: 0,
    };
    let t = std::time::Instant::now();
    let e = Board::new(port, options)
        .with_stop(move || t.elapsed() > Duration::from_millis(100))
        .snap()
        .unwrap_err();
    assert!(matches!(e, BoardError::Stopped), "{e:?}");
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn recorded_frames_never_overwrite() {
    let (_fake, port) = FakeBoard::start(Behaviour::Good);
    let snap = Board::new(port, quick()).snap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("shirt")).unwrap();
    std::fs::write(dir.path().join("shirt/1.png"), b"mine").unwrap();
    assert_eq!(board::next_index(dir.path(), "shirt"), 2);
    // From 0: 0 is free, then 1 is taken and kept, so 2.
    let (p0, n0) = board::record_frame(&snap, dir.path(), "shirt", 0).unwrap();
    let (p2, n2) = board::record_frame(&snap, dir.path(), "shirt", 1).unwrap();
    assert_eq!((n0, n2), (0, 2));
    assert_eq!(
        std::fs::read(dir.path().join("shirt/1.png")).unwrap(),
        b"mine"
    );
    for p in [p0, p2] {
        assert_eq!(image::open(p).unwrap().to_luma8().into_raw(), frame());
    }
    for bad in ["", ".hidden", "a/b", "..", "x\ny"] {
        assert!(
            board::record_frame(&snap, dir.path(), bad, 0).is_err(),
            "{bad:?}"
        );
    }
}
