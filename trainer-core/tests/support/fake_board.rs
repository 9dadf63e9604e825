//! A board played by a thread on one end of a pseudo-terminal pair, with
//! `camera::link`'s board-side code: it prints text lines, and answers each frame
//! request as told (well, damaged, cut off, never, in another protocol version).
//! Shared by `trainer-core/tests/board.rs` and `trainer/tests/camera.rs`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use camera::link::{self, Answer, Listener, Request, Scores, SendLimits, Sender, Verdict};
use serialport::{SerialPort, TTYPort};

pub const W: usize = 160;
pub const H: usize = 120;

/// The frame the fake board sends: a gradient with a dark rectangle.
pub fn frame() -> Vec<u8> {
    (0..W * H)
        .map(|i| {
            let (y, x) = (i / W, i % W);
            if (40..80).contains(&x) && (30..90).contains(&y) {
                20
            } else {
                (150 + (x + y) % 100) as u8
            }
        })
        .collect()
}

/// The model input the fake board sends.
pub fn input() -> Vec<u8> {
    (0..28 * 28).map(|i| (i * 5 % 256) as u8).collect()
}

/// What the fake board does with each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answers well.
    Good,
    /// Damages one byte of the first answer, answers well after.
    DamageFirst,
    /// Damages every answer.
    DamageAll,
    /// Sends only the first half of every answer.
    Truncate,
    /// Prints text, never answers.
    TextOnly,
    /// Answers in protocol version 2.
    Version2,
}

/// A board played by a thread on the master side of a pseudo-terminal.
pub struct FakeBoard {
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicU32>,
    thread: Option<JoinHandle<()>>,
}

impl FakeBoard {
    /// Starts the board; returns it and the host's end of the line.
    pub fn start(behaviour: Behaviour) -> (Self, TTYPort) {
        let (mut master, mut host) = TTYPort::pair().expect("a pseudo-terminal pair");
        host.set_timeout(Duration::from_millis(10)).unwrap();
        master.set_timeout(Duration::from_millis(5)).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU32::new(0));
        let (s, r) = (stop.clone(), requests.clone());
        let thread = std::thread::spawn(move || play(&mut master, behaviour, &s, &r));
        (
            Self {
                stop,
                requests,
                thread: Some(thread),
            },
            host,
        )
    }

    /// Requests the board heard.
    pub fn requests(&self) -> u32 {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for FakeBoard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Writes all of `bytes` (the pseudo-terminal may take them in pieces).
fn write_all(port: &mut TTYPort, mut bytes: &[u8], stop: &AtomicBool) {
    while !bytes.is_empty() && !stop.load(Ordering::SeqCst) {
        match port.write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

/// The board's loop: a text line per "frame", an answer when asked.
fn play(port: &mut TTYPort, behaviour: Behaviour, stop: &AtomicBool, requests: &AtomicU32) {
    let (frame, input) = (frame(), input());
    let mut listener = Listener::new();
    let mut number = 0u32;
    let mut buf = [0u8; 256];
    while !stop.load(Ordering::SeqCst) {
        if let Ok(n) = port.read(&mut buf) {
            listener.feed(&buf[..n]);
        }
        number += 1;
        let line = format!("frame {number}: Sneaker 87 % (capture 201 ms, classify 158 ms)\r\n");
        write_all(port, line.as_bytes(), stop);
        let Some(request) = listener.take() else {
            continue;
        };
        let n = requests.fetch_add(1, Ordering::SeqCst);
        let Request::Frame { id } = request else {
            panic!("the host sent {request:?}");
        };
        let answer = Answer {
            id,
            frame_number: number,
            width: W as u16,
            height: H as u16,
            frame: &frame,
            input_side: 28,
            input: &input,
            verdict: Verdict::Garment {
                class: 7,
                confidence_percent: 87,
                name: "Sneaker",
                scores: Scores::new(&[-9, -8, -7, -6, -5, -4, -3, 90, -1, 0]).unwrap(),
            },
        };
        let mut sender = Sender::answer(&answer, SendLimits::default()).unwrap();
        let mut bytes = Vec::new();
        while let link::Progress::Sending { .. } = sender.poll(|piece| {
            bytes.extend_from_slice(piece);
            piece.len()
        }) {}
        match behaviour {
            Behaviour::Good => {}
            Behaviour::DamageFirst if n == 0 => bytes[5000] ^= 0x40,
            Behaviour::DamageFirst => {}
            Behaviour::DamageAll => bytes[5000] ^= 0x40,
            Behaviour::Truncate => bytes.truncate(bytes.len() / 2),
            Behaviour::TextOnly => continue,
            Behaviour::Version2 => bytes = version_2(&bytes),
        }
        write_all(port, &bytes, stop);
        write_all(port, b"frame: after the answer\r\n", stop);
    }
}

/// `message` rewritten as protocol version 2 (same framing, new version, new CRC).
fn version_2(message: &[u8]) -> Vec<u8> {
    let mut m = message.to_vec();
    m[4] = 2;
    let end = m.len() - link::TRAILER_LEN;
    let crc = infer_core::crc32(&m[4..end]);
    m[end..].copy_from_slice(&crc.to_le_bytes());
    m
}
