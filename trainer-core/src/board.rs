//! The host's side of the serial link to a board (`camera::link`, described in
//! `docs/serial-protocol.md`): ask for a frame, find the answer among the board's text
//! lines, retry a damaged one, and save what the camera and the model saw as PNGs.
//!
//! `trainer camera` is built on it; its tests play the board over a pseudo-terminal.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use camera::link::{self, Answer, Decoder, Event, LinkError};

/// How patient the host is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// The answer must start this long after the request at most, and end this long
    /// after it started.
    pub timeout: Duration,
    /// Damaged or truncated answers asked again before giving up.
    pub retries: u32,
}

impl Default for Options {
    /// 5 s: a board captures (about 0.2 s at 5 fps) and classifies (about 0.2 s) a
    /// frame before it answers, and sends the 20 KB answer in about 0.3 s.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            retries: 3,
        }
    }
}

/// Why no frame came back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BoardError {
    /// Nothing that looks like an answer arrived in time.
    #[error(
        "no answer from the board within {:.1} s; is it running fashion-mnist-mcu firmware?{}",
        timeout.as_secs_f64(),
        last_text.as_ref().map(|t| format!(" (its last line: {t:?})")).unwrap_or_default()
    )]
    NoAnswer {
        /// How long the host waited.
        timeout: Duration,
        /// The last line of text the port gave, if any.
        last_text: Option<String>,
    },
    /// Every answer in `attempts` tries was damaged or cut off.
    #[error(
        "the board's answer was damaged or cut off {attempts} times in a row (last: {last}); \
         check the USB cable, close other programs using the port, and try again"
    )]
    Damaged {
        /// Requests sent.
        attempts: u32,
        /// What was wrong with the last answer.
        last: String,
    },
    /// The board speaks another version of the protocol.
    #[error(
        "protocol version mismatch: the board speaks version {board}, this trainer version {ours}; \
         flash the firmware that matches this trainer (or update the trainer)"
    )]
    VersionMismatch {
        /// The board's version.
        board: u8,
        /// [`link::VERSION`].
        ours: u8,
    },
    /// The board does not know the request.
    #[error("the board refused the request: {0}; update its firmware")]
    Refused(LinkError),
    /// Reading or writing the port failed (unplugged?).
    #[error("the serial port failed: {0} (was the board unplugged?)")]
    Port(#[source] io::Error),
    /// The caller asked to stop (Ctrl-C).
    #[error("stopped")]
    Stopped,
}

/// What the model made of a frame (owned [`link::Verdict`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A garment.
    Garment {
        /// Class index.
        class: u8,
        /// Softmax probability of the class in percent.
        confidence_percent: u8,
        /// Class name.
        name: String,
        /// The model's int8 scores, one per class.
        scores: Vec<i8>,
    },
    /// No garment in the frame.
    NoGarment {
        /// Why (a short name such as `no-object`).
        reason: String,
    },
    /// The frame could not be classified.
    Failed {
        /// Why (a short name).
        reason: String,
    },
}

/// One answer of the board: the frame, the model input and the verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The board's frame number (as in its text lines).
    pub frame_number: u32,
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// The frame's pixels (the camera's Y), row-major.
    pub frame: Vec<u8>,
    /// Side of the square model input.
    pub input_side: u32,
    /// The model input, row-major.
    pub input: Vec<u8>,
    /// What the model said.
    pub verdict: Verdict,
}

impl Snapshot {
    fn from_answer(a: &Answer<'_>) -> Self {
        let verdict = match a.verdict {
            link::Verdict::Garment {
                class,
                confidence_percent,
                name,
                scores,
            } => Verdict::Garment {
                class,
                confidence_percent,
                name: name.to_owned(),
                scores: scores.as_slice().to_vec(),
            },
            link::Verdict::NoGarment { reason } => Verdict::NoGarment {
                reason: reason.to_owned(),
            },
            link::Verdict::Failed { reason } => Verdict::Failed {
                reason: reason.to_owned(),
            },
        };
        Self {
            frame_number: a.frame_number,
            width: u32::from(a.width),
            height: u32::from(a.height),
            frame: a.frame.to_vec(),
            input_side: u32::from(a.input_side),
            input: a.input.to_vec(),
            verdict,
        }
    }

    /// One line for the terminal: `frame 12: Sneaker 87 % (class 7, scores -3 … 41)`,
    /// `frame 13: no garment found (no-object)` or `frame 14: failed (classify)`.
    pub fn line(&self) -> String {
        let n = self.frame_number;
        match &self.verdict {
            Verdict::Garment {
                class,
                confidence_percent,
                name,
                scores,
            } => {
                let scores: Vec<String> = scores.iter().map(i8::to_string).collect();
                format!(
                    "frame {n}: {name} {confidence_percent} % (class {class}, scores {})",
                    scores.join(" ")
                )
            }
            Verdict::NoGarment { reason } => format!("frame {n}: no garment found ({reason})"),
            Verdict::Failed { reason } => format!("frame {n}: failed ({reason})"),
        }
    }
}

/// How one request went.
enum Attempt {
    Answered(Snapshot),
    /// Nothing but text (or nothing) before the deadline.
    Silent,
    /// An answer came but was damaged or cut off.
    Damaged(String),
}

/// Longest line of the board's text kept for error messages.
const TEXT_KEEP: usize = 200;

/// A board on a serial port (or anything that reads and writes like one).
pub struct Board<P> {
    port: P,
    decoder: Decoder<Vec<u8>>,
    next_id: u16,
    options: Options,
    line: Vec<u8>,
    last_line: Option<String>,
    stop: Box<dyn Fn() -> bool>,
}

impl<P> std::fmt::Debug for Board<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Board")
            .field("next_id", &self.next_id)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Opens the serial port at `path` (USB CDC-ACM: the baud rate is not used); a
/// missing or busy port is a clear error naming the serial ports there are.
pub fn open(path: &Path, options: Options) -> Result<Board<Box<dyn serialport::SerialPort>>> {
    let name = path.to_string_lossy();
    let port = serialport::new(name.as_ref(), 115_200)
        .timeout(Duration::from_millis(20))
        .open()
        .map_err(|e| {
            let hint = match e.kind() {
                serialport::ErrorKind::NoDevice
                | serialport::ErrorKind::Io(io::ErrorKind::NotFound) => "is the board plugged in?",
                serialport::ErrorKind::Io(io::ErrorKind::PermissionDenied) => {
                    "on Linux, add yourself to the dialout group (then log in again)"
                }
                _ => "is another program using the port?",
            };
            anyhow::anyhow!(
                "cannot open serial port {}: {}; {hint} (serial ports here: {})",
                path.display(),
                e.description,
                candidate_ports()
            )
        })?;
    Ok(Board::new(port, options))
}

/// The USB serial devices in /dev, for error messages.
fn candidate_ports() -> String {
    let mut found: Vec<String> = std::fs::read_dir("/dev")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("ttyACM") || n.starts_with("ttyUSB") || n.starts_with("cu.usb"))
        .map(|n| format!("/dev/{n}"))
        .collect();
    found.sort();
    if found.is_empty() {
        "none found".to_owned()
    } else {
        found.join(", ")
    }
}

impl<P: Read + Write> Board<P> {
    /// A board on `port`, whose reads should time out after a short while (tens of
    /// milliseconds) so that deadlines and Ctrl-C are noticed.
    pub fn new(port: P, options: Options) -> Self {
        Self {
            port,
            decoder: Decoder::new(vec![0; link::MAX_PAYLOAD]),
            next_id: 1,
            options,
            line: Vec::new(),
            last_line: None,
            stop: Box::new(|| false),
        }
    }

    /// Makes every wait end with [`BoardError::Stopped`] once `stop` says so.
    pub fn with_stop(mut self, stop: impl Fn() -> bool + 'static) -> Self {
        self.stop = Box::new(stop);
        self
    }

    /// Asks for the next frame and waits for it; a damaged or truncated answer is
    /// asked again up to [`Options::retries`] times.
    pub fn snap(&mut self) -> Result<Snapshot, BoardError> {
        let mut damaged = 0;
        let mut last = String::new();
        for _ in 0..=self.options.retries {
            match self.attempt()? {
                Attempt::Answered(s) => return Ok(s),
                Attempt::Silent if damaged == 0 => {
                    return Err(BoardError::NoAnswer {
                        timeout: self.options.timeout,
                        last_text: self.last_line.clone(),
                    });
                }
                Attempt::Silent => {
                    damaged += 1;
                    last = "no answer after a damaged one".to_owned();
                }
                Attempt::Damaged(why) => {
                    damaged += 1;
                    last = why;
                }
            }
        }
        Err(BoardError::Damaged {
            attempts: damaged,
            last,
        })
    }

    /// Writes request `id`, waiting while the port takes nothing (a board capturing
    /// with interrupts off does not read for a fifth of a second); false if it took
    /// nothing until the timeout.
    fn send_request(&mut self, id: u16, asked: Instant) -> Result<bool, BoardError> {
        let request = link::request(id);
        let mut rest = &request[..];
        while !rest.is_empty() {
            if (self.stop)() {
                return Err(BoardError::Stopped);
            }
            if asked.elapsed() > self.options.timeout {
                return Ok(false);
            }
            match self.port.write(rest) {
                Ok(n) => rest = &rest[n..],
                Err(e) if waiting(&e) => {}
                Err(e) => return Err(BoardError::Port(e)),
            }
        }
        match self.port.flush() {
            Err(e) if !waiting(&e) => Err(BoardError::Port(e)),
            _ => Ok(true),
        }
    }

    /// One request and its answer.
    fn attempt(&mut self) -> Result<Attempt, BoardError> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.decoder.reset();
        let asked = Instant::now();
        if !self.send_request(id, asked)? {
            return Ok(Attempt::Silent);
        }
        let mut started: Option<Instant> = None;
        let mut buf = [0u8; 4096];
        loop {
            if (self.stop)() {
                return Err(BoardError::Stopped);
            }
            let now = Instant::now();
            match started {
                None if now - asked > self.options.timeout => return Ok(Attempt::Silent),
                Some(t) if now - t > self.options.timeout => {
                    let (got, of) = self.decoder.in_message().unwrap_or((0, 0));
                    return Ok(Attempt::Damaged(format!(
                        "cut off after {got} of {of} bytes"
                    )));
                }
                _ => {}
            }
            let n = match self.port.read(&mut buf) {
                Ok(n) => n,
                Err(e) if waiting(&e) => 0,
                Err(e) => return Err(BoardError::Port(e)),
            };
            for &b in &buf[..n] {
                let event = self.decoder.push(b);
                let outcome = match event {
                    Event::Text(t) => {
                        remember_text(&mut self.line, &mut self.last_line, t);
                        None
                    }
                    Event::Pending => None,
                    Event::Error(e) => Some(Attempt::Damaged(e.to_string())),
                    Event::Message(m) => match Answer::parse(&m) {
                        // An answer to an earlier request (after a timeout): not ours.
                        Ok(a) if a.id != id => None,
                        Ok(a) => Some(Attempt::Answered(Snapshot::from_answer(&a))),
                        Err(LinkError::VersionMismatch { theirs, ours }) => {
                            return Err(BoardError::VersionMismatch {
                                board: theirs,
                                ours,
                            });
                        }
                        Err(e @ LinkError::Refused { .. }) => return Err(BoardError::Refused(e)),
                        Err(e) => Some(Attempt::Damaged(e.to_string())),
                    },
                };
                if let Some(outcome) = outcome {
                    return Ok(outcome);
                }
                if started.is_none() && self.decoder.in_message().is_some() {
                    started = Some(Instant::now());
                }
            }
        }
    }
}

/// True for the errors of a port that only has nothing to give or take yet (its
/// timeout, or a signal such as Ctrl-C).
fn waiting(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// Keeps the last whole line of the board's text (for "is it the right device?").
fn remember_text(line: &mut Vec<u8>, last: &mut Option<String>, byte: u8) {
    match byte {
        b'\n' | b'\r' if !line.is_empty() => {
            *last = Some(String::from_utf8_lossy(line).into_owned());
            line.clear();
        }
        b'\n' | b'\r' => {}
        _ if line.len() < TEXT_KEEP => line.push(byte),
        _ => {}
    }
}

/// A grayscale PNG of `pixels` (`width x height`, row-major), encoded in memory.
pub fn gray_png(width: u32, height: u32, pixels: &[u8]) -> Result<Vec<u8>> {
    let img = image::GrayImage::from_raw(width, height, pixels.to_vec())
        .context("pixel count does not match the size")?;
    let mut png = Vec::new();
    img.write_to(&mut io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    Ok(png)
}

/// `pixels` (a `side x side` image) scaled up `factor` times, nearest neighbour.
pub fn enlarge(side: u32, pixels: &[u8], factor: u32) -> Vec<u8> {
    let big = side * factor;
    (0..big * big)
        .map(|i| {
            let (y, x) = (i / big / factor, i % big / factor);
            pixels
                .get((y * side + x) as usize)
                .copied()
                .unwrap_or_default()
        })
        .collect()
}

/// Scale of `input-x8.png`.
pub const INPUT_ZOOM: u32 = 8;

/// Writes `frame.png` (the camera's frame), `input.png` (the model input) and
/// `input-x8.png` (the input enlarged for eyes) into `dir`, each atomically; returns
/// their paths.
pub fn save_snapshot(snap: &Snapshot, dir: &Path) -> Result<Vec<PathBuf>> {
    let s = snap.input_side;
    let files = [
        ("frame.png", gray_png(snap.width, snap.height, &snap.frame)?),
        ("input.png", gray_png(s, s, &snap.input)?),
        (
            "input-x8.png",
            gray_png(
                s * INPUT_ZOOM,
                s * INPUT_ZOOM,
                &enlarge(s, &snap.input, INPUT_ZOOM),
            )?,
        ),
    ];
    let mut paths = Vec::new();
    for (name, png) in files {
        let path = dir.join(name);
        crate::files::atomic::write_atomic(&path, &png)?;
        paths.push(path);
    }
    Ok(paths)
}

/// Checks a class label for use as a folder name: not empty, no path separators, not
/// starting with a dot.
pub fn check_label(label: &str) -> Result<()> {
    let bad = label.is_empty()
        || label.starts_with('.')
        || label.contains(['/', '\\', '\0'])
        || label.chars().any(char::is_control);
    if bad {
        anyhow::bail!(
            "label {label:?} cannot be a folder name (no '/', no leading '.', not empty)"
        );
    }
    Ok(())
}

/// Saves the frame of `snap` as `DIR/<label>/<n>.png` with the lowest `n` from
/// `next` up that is free (ImageFolder's layout); never overwrites a file. Returns the
/// path and the `n` used.
pub fn record_frame(snap: &Snapshot, dir: &Path, label: &str, next: u64) -> Result<(PathBuf, u64)> {
    check_label(label)?;
    let class_dir = dir.join(label);
    let png = gray_png(snap.width, snap.height, &snap.frame)?;
    let mut n = next;
    loop {
        let path = class_dir.join(format!("{n}.png"));
        if !path.exists() {
            match crate::files::atomic::write_atomic_new(&path, &png) {
                Ok(()) => return Ok((path, n)),
                // Taken between the check and the rename: try the next number.
                Err(_) if path.exists() => {}
                Err(e) => return Err(e),
            }
        }
        n += 1;
    }
}

/// The first free number in `DIR/<label>/`: one more than the largest `<n>.png` there
/// (0 for a new class).
pub fn next_index(dir: &Path, label: &str) -> u64 {
    std::fs::read_dir(dir.join(label))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let stem = name.to_str()?.strip_suffix(".png")?;
            stem.parse::<u64>().ok()
        })
        .max()
        .map_or(0, |m| m + 1)
}
