//! The serial link between the host (`trainer camera`) and a board: the host asks for
//! a frame, the board answers with what its camera and its model saw.
//!
//! The byte-by-byte description, the versioning rule and how to add a message are in
//! `docs/serial-protocol.md`. In short, every message, in either direction, is
//! ```text
//! offset  size  field
//! 0       4     marker 0xFF 0xFA 0x46 0x4D ("\xFF\xFA" "FM")
//! 4       1     protocol version (VERSION)
//! 5       1     message kind (Kind)
//! 6       4     payload length N (u32, little-endian)
//! 10      N     payload
//! 10+N    4     CRC-32 (IEEE, infer_core::crc32) of bytes 4..10+N, u32 little-endian
//! ```
//! The board's text lines share the port: neither 0xFF nor 0xFA ever occurs in UTF-8
//! text, so a [`Decoder`] passes text through as [`Event::Text`] while it waits for a
//! marker, and a person typing in a terminal cannot send a request (its marker, its
//! header and a matching CRC-32). The board sends binary only when asked.
//!
//! - Board side: a [`Listener`] is fed the bytes the board receives, in any chunks,
//!   and says when an answer is wanted; a [`Sender`] writes the answer ([`Answer`])
//!   into a byte sink in pieces of at most [`CHUNK`] bytes, and gives up after a bound
//!   when the sink stops taking them.
//! - Host side: [`request`] makes the request; a [`Decoder`] with a buffer of
//!   [`MAX_PAYLOAD`] bytes finds the answer among the text, and [`Answer::parse`]
//!   reads it.
//!
//! No allocation, every loop bounded, no panic on any input.

use core::fmt;

use infer_core::Crc32;

/// The bytes that open every message.
pub const MARKER: [u8; 4] = [0xFF, 0xFA, b'F', b'M'];
/// The protocol version this code speaks.
pub const VERSION: u8 = 1;
/// Bytes before the payload: marker, version, kind, length.
pub const HEADER_LEN: usize = 10;
/// Bytes after the payload: the CRC-32.
pub const TRAILER_LEN: usize = 4;
/// Framing bytes around a payload.
pub const OVERHEAD: usize = HEADER_LEN + TRAILER_LEN;

/// Largest frame an [`Answer`] may carry, in pixels (QVGA; the boards send QQVGA).
pub const MAX_FRAME_PIXELS: usize = 320 * 240;
/// Largest side of the model input an [`Answer`] may carry.
pub const MAX_INPUT_SIDE: usize = 64;
/// Most scores an [`Answer`] may carry (one per class).
pub const MAX_SCORES: usize = 16;
/// Longest class name or reason an [`Answer`] may carry, in bytes.
pub const MAX_NAME: usize = 32;
/// Bytes of an answer's payload before its scores (see [`Answer`]).
pub const ANSWER_FIXED_LEN: usize = 16;
/// Largest payload of any version-1 message: the buffer a host's [`Decoder`] needs.
pub const MAX_PAYLOAD: usize =
    ANSWER_FIXED_LEN + MAX_SCORES + MAX_NAME + MAX_FRAME_PIXELS + MAX_INPUT_SIDE * MAX_INPUT_SIDE;
/// Payload of a frame request: the request id.
pub const REQUEST_PAYLOAD_LEN: usize = 2;
/// A whole frame request, framing included.
pub const REQUEST_LEN: usize = OVERHEAD + REQUEST_PAYLOAD_LEN;
/// Payload of an [`Kind::Unsupported`] reply: the refused message's version and kind.
pub const UNSUPPORTED_PAYLOAD_LEN: usize = 2;
/// Largest payload a board's [`Listener`] keeps; longer messages are skipped.
pub const LISTENER_BUF: usize = 16;
/// Most bytes a [`Sender`] offers at once (one USB full-speed bulk packet).
pub const CHUNK: usize = 64;

/// What a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
#[repr(u8)]
pub enum Kind {
    /// Host to board: "send me the next frame". Payload: request id (u16).
    FrameRequest = 0x01,
    /// Board to host: a frame, the model input and the answer ([`Answer`]).
    FrameAnswer = 0x81,
    /// Board to host: the board does not know the version or kind it was sent.
    /// Payload: that message's version (u8) and kind (u8).
    Unsupported = 0x82,
}

impl Kind {
    /// The kind with code `code`, if version 1 has one.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0x01 => Some(Self::FrameRequest),
            0x81 => Some(Self::FrameAnswer),
            0x82 => Some(Self::Unsupported),
            _ => None,
        }
    }
}

/// Why a message or an answer was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum LinkError {
    /// The length field asks for more bytes than the receiver keeps.
    TooLong {
        /// The payload length the header gave.
        len: u32,
        /// The most the receiver keeps.
        max: u32,
    },
    /// The CRC-32 does not match: the message was damaged on the way.
    BadCrc {
        /// The CRC the message carried.
        carried: u32,
        /// The CRC of the bytes received.
        computed: u32,
    },
    /// A message of another protocol version.
    VersionMismatch {
        /// The version of the message.
        theirs: u8,
        /// [`VERSION`].
        ours: u8,
    },
    /// A message of a kind that was not expected here.
    UnexpectedKind(u8),
    /// The board refused the request: it does not speak that version or kind.
    Refused {
        /// The refused message's version.
        version: u8,
        /// The refused message's kind.
        kind: u8,
    },
    /// The payload's length does not match its fields.
    WrongLength {
        /// What the fields imply.
        expected: u32,
        /// What the header gave.
        actual: u32,
    },
    /// A field outside its range (`what` names it).
    BadField {
        /// Which field.
        what: &'static str,
    },
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooLong { len, max } => {
                write!(
                    f,
                    "message of {len} payload bytes, more than the {max} kept"
                )
            }
            Self::BadCrc { carried, computed } => write!(
                f,
                "CRC mismatch (carried {carried:#010x}, computed {computed:#010x})"
            ),
            Self::VersionMismatch { theirs, ours } => write!(
                f,
                "protocol version mismatch: the other side speaks version {theirs}, this one {ours}"
            ),
            Self::UnexpectedKind(k) => write!(f, "unexpected message kind {k:#04x}"),
            Self::Refused { version, kind } => write!(
                f,
                "the board refused a version {version} message of kind {kind:#04x}"
            ),
            Self::WrongLength { expected, actual } => {
                write!(f, "payload of {actual} bytes, its fields imply {expected}")
            }
            Self::BadField { what } => write!(f, "field out of range: {what}"),
        }
    }
}

impl core::error::Error for LinkError {}

/// One message as received: version, kind code and payload (the CRC checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// The protocol version it was written in.
    pub version: u8,
    /// Its kind code (see [`Kind`]).
    pub kind: u8,
    /// Its payload.
    pub payload: &'a [u8],
}

/// The header bytes 4..10 (version, kind, length) of a message.
fn header_fields(version: u8, kind: u8, len: u32) -> [u8; 6] {
    let l = len.to_le_bytes();
    [version, kind, l[0], l[1], l[2], l[3]]
}

/// The frame request with id `id`, ready to write to the port.
pub fn request(id: u16) -> [u8; REQUEST_LEN] {
    let mut out = [0u8; REQUEST_LEN];
    let fields = header_fields(
        VERSION,
        Kind::FrameRequest as u8,
        REQUEST_PAYLOAD_LEN as u32,
    );
    out[..4].copy_from_slice(&MARKER);
    out[4..HEADER_LEN].copy_from_slice(&fields);
    out[HEADER_LEN..HEADER_LEN + 2].copy_from_slice(&id.to_le_bytes());
    let crc = infer_core::crc32(&out[4..HEADER_LEN + 2]);
    out[HEADER_LEN + 2..].copy_from_slice(&crc.to_le_bytes());
    out
}

/// What a decoder makes of one byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A byte outside any message (the board's text). The bytes of a marker that
    /// broke off are dropped.
    Text(u8),
    /// A byte of a message that is not complete yet.
    Pending,
    /// A whole message with a good CRC.
    Message(Message<'a>),
    /// A message was refused ([`LinkError::TooLong`] or [`LinkError::BadCrc`]); the
    /// decoder looks for the next marker.
    Error(LinkError),
}

/// Where a [`Decoder`] is in the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Looking for the marker; `matched` bytes of it seen.
    Hunt { matched: usize },
    /// In the header after the marker; `got` of its 6 bytes seen.
    Header { got: usize },
    /// In the payload of `len` bytes; `got` seen.
    Payload { len: usize, got: usize },
    /// In the CRC after a payload of `len` bytes; `got` of its 4 bytes seen.
    Crc { len: usize, got: usize },
}

/// Finds messages in a byte stream that also carries text, one byte at a time, so
/// any split of the stream into chunks gives the same events.
///
/// The payload is kept in `buf` (any `[u8; N]`, or a `Vec<u8>` on a host): a message
/// whose length field asks for more is refused as soon as its header is in.
#[derive(Debug, Clone)]
pub struct Decoder<B> {
    buf: B,
    state: State,
    header: [u8; 6],
    crc: [u8; 4],
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Decoder<B> {
    /// A decoder that keeps payloads of up to `buf.len()` bytes in `buf`.
    pub const fn new(buf: B) -> Self {
        Self {
            buf,
            state: State::Hunt { matched: 0 },
            header: [0; 6],
            crc: [0; 4],
        }
    }

    /// Forgets any message in progress and looks for the next marker.
    pub fn reset(&mut self) {
        self.state = State::Hunt { matched: 0 };
    }

    /// `Some((received, total))` bytes of the message in progress (framing included),
    /// `None` while looking for a marker.
    pub fn in_message(&self) -> Option<(usize, usize)> {
        let total = |len: usize| OVERHEAD + len;
        match self.state {
            State::Hunt { .. } => None,
            State::Header { got } => Some((4 + got, OVERHEAD)),
            State::Payload { len, got } => Some((HEADER_LEN + got, total(len))),
            State::Crc { len, got } => Some((HEADER_LEN + len + got, total(len))),
        }
    }

    /// Takes the next byte of the stream.
    pub fn push(&mut self, byte: u8) -> Event<'_> {
        match self.state {
            State::Hunt { matched } => {
                if byte == MARKER[matched] {
                    self.state = if matched + 1 == MARKER.len() {
                        State::Header { got: 0 }
                    } else {
                        State::Hunt {
                            matched: matched + 1,
                        }
                    };
                    return Event::Pending;
                }
                // A broken-off marker: this byte may start a new one.
                if byte == MARKER[0] {
                    self.state = State::Hunt { matched: 1 };
                    return Event::Pending;
                }
                self.state = State::Hunt { matched: 0 };
                Event::Text(byte)
            }
            State::Header { got } => {
                self.header[got] = byte;
                if got + 1 < self.header.len() {
                    self.state = State::Header { got: got + 1 };
                    return Event::Pending;
                }
                let h = self.header;
                let len = u32::from_le_bytes([h[2], h[3], h[4], h[5]]);
                let max = self.buf.as_ref().len();
                match usize::try_from(len) {
                    Ok(l) if l <= max => {
                        self.state = if l == 0 {
                            State::Crc { len: 0, got: 0 }
                        } else {
                            State::Payload { len: l, got: 0 }
                        };
                        Event::Pending
                    }
                    _ => {
                        self.reset();
                        Event::Error(LinkError::TooLong {
                            len,
                            max: u32::try_from(max).unwrap_or(u32::MAX),
                        })
                    }
                }
            }
            State::Payload { len, got } => {
                // `got < len <= buf.len()` by construction.
                if let Some(slot) = self.buf.as_mut().get_mut(got) {
                    *slot = byte;
                }
                self.state = if got + 1 == len {
                    State::Crc { len, got: 0 }
                } else {
                    State::Payload { len, got: got + 1 }
                };
                Event::Pending
            }
            State::Crc { len, got } => {
                self.crc[got] = byte;
                if got + 1 < self.crc.len() {
                    self.state = State::Crc { len, got: got + 1 };
                    return Event::Pending;
                }
                self.reset();
                let payload = self.buf.as_ref().get(..len).unwrap_or(&[]);
                let mut crc = Crc32::new();
                crc.update(&self.header);
                crc.update(payload);
                let computed = crc.finish();
                let carried = u32::from_le_bytes(self.crc);
                if computed != carried {
                    return Event::Error(LinkError::BadCrc { carried, computed });
                }
                Event::Message(Message {
                    version: self.header[0],
                    kind: self.header[1],
                    payload,
                })
            }
        }
    }
}

/// What the board was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Request {
    /// Send the next frame in a [`Kind::FrameAnswer`] that carries `id`.
    Frame {
        /// The request's id, echoed in the answer.
        id: u16,
    },
    /// A message the board does not speak: answer [`Sender::unsupported`].
    Unsupported {
        /// Its version.
        version: u8,
        /// Its kind code.
        kind: u8,
    },
}

/// The board's side of the link: fed what the board receives (in any chunks), it
/// remembers the latest request until [`take`](Self::take) collects it. Text, damaged
/// messages and messages too long for a request are ignored.
#[derive(Debug, Clone)]
pub struct Listener {
    decoder: Decoder<[u8; LISTENER_BUF]>,
    pending: Option<Request>,
}

impl Default for Listener {
    fn default() -> Self {
        Self::new()
    }
}

impl Listener {
    /// A listener with nothing asked yet (`const`: it can live in a `static`).
    pub const fn new() -> Self {
        Self {
            decoder: Decoder::new([0; LISTENER_BUF]),
            pending: None,
        }
    }

    /// Takes bytes the board received; true when they completed a request.
    pub fn feed(&mut self, bytes: &[u8]) -> bool {
        let mut asked = false;
        for &b in bytes {
            if let Event::Message(m) = self.decoder.push(b) {
                let request = match (m.version, Kind::from_code(m.kind), m.payload) {
                    (VERSION, Some(Kind::FrameRequest), &[lo, hi]) => Request::Frame {
                        id: u16::from_le_bytes([lo, hi]),
                    },
                    _ => Request::Unsupported {
                        version: m.version,
                        kind: m.kind,
                    },
                };
                self.pending = Some(request);
                asked = true;
            }
        }
        asked
    }

    /// The latest request not yet taken (an earlier one is superseded).
    pub fn take(&mut self) -> Option<Request> {
        self.pending.take()
    }
}

/// What the model made of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Verdict<'a> {
    /// A garment of class `class`.
    Garment {
        /// The class index.
        class: u8,
        /// Softmax probability of the class in percent (display only).
        confidence_percent: u8,
        /// The class name (at most [`MAX_NAME`] bytes).
        name: &'a str,
        /// The model's int8 scores, one per class.
        scores: Scores,
    },
    /// No garment in the frame (`reason`: a short name such as `no-object`).
    NoGarment {
        /// Why (at most [`MAX_NAME`] bytes).
        reason: &'a str,
    },
    /// The frame could not be classified (`reason`: a short name).
    Failed {
        /// Why (at most [`MAX_NAME`] bytes).
        reason: &'a str,
    },
}

impl<'a> Verdict<'a> {
    /// The verdict's code, class, confidence, scores and name as the wire has them.
    fn wire(&self) -> (u8, u8, u8, Scores, &'a str) {
        match *self {
            Verdict::Garment {
                class,
                confidence_percent,
                name,
                scores,
            } => (GARMENT, class, confidence_percent, scores, name),
            Verdict::NoGarment { reason } => (NO_GARMENT, NO_CLASS, 0, Scores::EMPTY, reason),
            Verdict::Failed { reason } => (FAILED, NO_CLASS, 0, Scores::EMPTY, reason),
        }
    }
}

/// Codes of [`Verdict`] on the wire.
const GARMENT: u8 = 0;
const NO_GARMENT: u8 = 1;
const FAILED: u8 = 2;
/// The class byte of a verdict without a class.
const NO_CLASS: u8 = 255;

/// The payload of a [`Kind::FrameAnswer`]; little-endian:
/// ```text
/// offset  size   field
/// 0       2      request id (u16, echoed from the request)
/// 2       4      frame number (u32, the board's count)
/// 6       2      frame width W (u16)
/// 8       2      frame height H (u16)
/// 10      1      model input side S
/// 11      1      verdict: 0 garment, 1 no garment, 2 failed
/// 12      1      class index (255 without a garment)
/// 13      1      confidence in percent (0 without a garment)
/// 14      1      score count K (0 without a garment)
/// 15      1      name length L (class name, or the reason)
/// 16      K      scores (i8)
/// 16+K    L      name (UTF-8)
/// ...     W*H    the frame (row-major, one byte per pixel: the camera's Y)
/// ...     S*S    the model input (row-major)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Answer<'a> {
    /// The request's id.
    pub id: u16,
    /// The board's frame number (as in its text lines).
    pub frame_number: u32,
    /// Frame width in pixels.
    pub width: u16,
    /// Frame height in pixels.
    pub height: u16,
    /// The frame, `width * height` bytes, row-major.
    pub frame: &'a [u8],
    /// Side of the square model input.
    pub input_side: u8,
    /// The model input, `input_side^2` bytes, row-major (all zeros without a garment).
    pub input: &'a [u8],
    /// What the model said.
    pub verdict: Verdict<'a>,
}

impl<'a> Answer<'a> {
    /// Checks every field's range and size; the payload's length on success.
    pub fn check(&self) -> Result<usize, LinkError> {
        let pixels = usize::from(self.width) * usize::from(self.height);
        if pixels == 0 || pixels > MAX_FRAME_PIXELS {
            return Err(LinkError::BadField { what: "frame size" });
        }
        if self.frame.len() != pixels {
            return Err(LinkError::BadField {
                what: "frame pixels",
            });
        }
        let side = usize::from(self.input_side);
        if side == 0 || side > MAX_INPUT_SIDE {
            return Err(LinkError::BadField { what: "input side" });
        }
        if self.input.len() != side * side {
            return Err(LinkError::BadField {
                what: "input pixels",
            });
        }
        let (code, class, confidence, scores, name) = self.verdict.wire();
        if code == GARMENT && (class == NO_CLASS || confidence > 100) {
            return Err(LinkError::BadField { what: "class" });
        }
        let scores = usize::from(scores.len);
        if name.len() > MAX_NAME {
            return Err(LinkError::BadField { what: "name" });
        }
        Ok(ANSWER_FIXED_LEN + scores + name.len() + pixels + side * side)
    }

    /// Reads an answer from a received message: checks its version (a board of
    /// another version gives [`LinkError::VersionMismatch`]), its kind (a refusal gives
    /// [`LinkError::Refused`]) and every field.
    pub fn parse(message: &Message<'a>) -> Result<Self, LinkError> {
        if message.version != VERSION {
            return Err(LinkError::VersionMismatch {
                theirs: message.version,
                ours: VERSION,
            });
        }
        let p = message.payload;
        match Kind::from_code(message.kind) {
            Some(Kind::FrameAnswer) => {}
            Some(Kind::Unsupported) if p.len() == UNSUPPORTED_PAYLOAD_LEN => {
                return Err(LinkError::Refused {
                    version: p[0],
                    kind: p[1],
                });
            }
            _ => return Err(LinkError::UnexpectedKind(message.kind)),
        }
        let fixed = p.get(..ANSWER_FIXED_LEN).ok_or(LinkError::WrongLength {
            expected: ANSWER_FIXED_LEN as u32,
            actual: p.len() as u32,
        })?;
        let u16_at = |i: usize| u16::from_le_bytes([fixed[i], fixed[i + 1]]);
        let (width, height, side) = (u16_at(6), u16_at(8), fixed[10]);
        let (code, class, confidence) = (fixed[11], fixed[12], fixed[13]);
        let (k, l) = (usize::from(fixed[14]), usize::from(fixed[15]));
        let pixels = usize::from(width) * usize::from(height);
        let input_len = usize::from(side) * usize::from(side);
        let expected = (ANSWER_FIXED_LEN + k + l + input_len).saturating_add(pixels);
        if p.len() != expected {
            return Err(LinkError::WrongLength {
                expected: expected as u32,
                actual: p.len() as u32,
            });
        }
        let (scores, rest) = p[ANSWER_FIXED_LEN..].split_at(k);
        let (name, rest) = rest.split_at(l);
        let (frame, input) = rest.split_at(pixels);
        let name = core::str::from_utf8(name).map_err(|_| LinkError::BadField { what: "name" })?;
        let verdict = match code {
            GARMENT => Verdict::Garment {
                class,
                confidence_percent: confidence,
                name,
                scores: Scores::from_wire(scores).ok_or(LinkError::BadField { what: "scores" })?,
            },
            NO_GARMENT if k == 0 => Verdict::NoGarment { reason: name },
            FAILED if k == 0 => Verdict::Failed { reason: name },
            _ => return Err(LinkError::BadField { what: "verdict" }),
        };
        let answer = Self {
            id: u16_at(0),
            frame_number: u32::from_le_bytes([fixed[2], fixed[3], fixed[4], fixed[5]]),
            width,
            height,
            frame,
            input_side: side,
            input,
            verdict,
        };
        answer.check()?;
        Ok(answer)
    }

    /// The fixed fields, scores and name: the payload up to the frame.
    fn head(&self, out: &mut [u8; HEAD_MAX]) -> usize {
        let (code, class, confidence, scores, name) = self.verdict.wire();
        let mut w = Writer { out, at: 0 };
        w.put(&self.id.to_le_bytes());
        w.put(&self.frame_number.to_le_bytes());
        w.put(&self.width.to_le_bytes());
        w.put(&self.height.to_le_bytes());
        w.put(&[self.input_side, code, class, confidence]);
        // Both checked against MAX_SCORES and MAX_NAME (< 256) by `check`.
        w.put(&[scores.len, name.len() as u8]);
        for &s in scores.as_slice() {
            w.put(&s.to_le_bytes());
        }
        w.put(name.as_bytes());
        w.at
    }
}

/// A model's int8 scores, one per class, at most [`MAX_SCORES`] (kept by value: the
/// wire's bytes cannot be borrowed as `i8` without `unsafe`).
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Scores {
    len: u8,
    values: [i8; MAX_SCORES],
}

impl Scores {
    /// No scores.
    pub const EMPTY: Self = Self {
        len: 0,
        values: [0; MAX_SCORES],
    };

    /// The scores `values`, or `None` for more than [`MAX_SCORES`].
    pub fn new(values: &[i8]) -> Option<Self> {
        let mut s = Self {
            len: u8::try_from(values.len()).ok()?,
            values: [0; MAX_SCORES],
        };
        s.values.get_mut(..values.len())?.copy_from_slice(values);
        Some(s)
    }

    /// Scores from their bytes on the wire (two's complement).
    fn from_wire(bytes: &[u8]) -> Option<Self> {
        let mut s = Self {
            len: u8::try_from(bytes.len()).ok()?,
            values: [0; MAX_SCORES],
        };
        for (v, &b) in s.values.get_mut(..bytes.len())?.iter_mut().zip(bytes) {
            *v = i8::from_le_bytes([b]);
        }
        Some(s)
    }

    /// The scores.
    pub fn as_slice(&self) -> &[i8] {
        &self.values[..usize::from(self.len)]
    }
}

impl fmt::Debug for Scores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_slice().fmt(f)
    }
}

/// The head of a message: marker, header and the payload before the frame.
const HEAD_MAX: usize = HEADER_LEN + ANSWER_FIXED_LEN + MAX_SCORES + MAX_NAME;

/// Appends into a fixed buffer (the sizes are checked before).
struct Writer<'o> {
    out: &'o mut [u8; HEAD_MAX],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = (self.at + bytes.len()).min(HEAD_MAX);
        let n = end - self.at;
        self.out[self.at..end].copy_from_slice(&bytes[..n]);
        self.at = end;
    }
}

/// How long a [`Sender`] keeps trying when the sink takes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SendLimits {
    /// Calls of [`Sender::poll`] in a row that write nothing before the answer is
    /// abandoned (the host stopped reading).
    pub idle_polls: u32,
    /// Calls of [`Sender::poll`] in all before the answer is abandoned (the host reads
    /// too slowly).
    pub total_polls: u32,
}

impl Default for SendLimits {
    /// With a 1 ms wait after every call that wrote nothing: abandoned after half a
    /// second without progress or about 10 s in all (a frame answer is 320 packets of
    /// 64 bytes; USB full speed moves one per 1 ms poll at worst).
    fn default() -> Self {
        Self {
            idle_polls: 500,
            total_polls: 10_000,
        }
    }
}

/// Where a [`Sender`] stands after a [`poll`](Sender::poll).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Progress {
    /// More to send: call `poll` again (after a short wait if `wrote` is 0).
    Sending {
        /// Bytes the sink took in this call.
        wrote: usize,
    },
    /// The whole message is written.
    Done,
    /// The sink stopped taking bytes (see [`SendLimits`]): the message is cut off,
    /// which the host sees as a truncated answer.
    Abandoned,
}

/// Writes one message into a byte sink in pieces of at most [`CHUNK`] bytes, without
/// copying the frame: the board's side of an answer.
#[derive(Debug, Clone)]
pub struct Sender<'a> {
    head: [u8; HEAD_MAX],
    head_len: usize,
    frame: &'a [u8],
    input: &'a [u8],
    crc: [u8; TRAILER_LEN],
    sent: usize,
    idle: u32,
    polls: u32,
    limits: SendLimits,
}

impl<'a> Sender<'a> {
    /// The answer `answer` as a [`Kind::FrameAnswer`], or why its fields are out of range.
    pub fn answer(answer: &Answer<'a>, limits: SendLimits) -> Result<Self, LinkError> {
        let len = answer.check()?;
        let mut head = [0u8; HEAD_MAX];
        let mut fixed = [0u8; HEAD_MAX];
        let fixed_len = answer.head(&mut fixed);
        head[..4].copy_from_slice(&MARKER);
        // `len` is at most MAX_PAYLOAD (checked above).
        let fields = header_fields(VERSION, Kind::FrameAnswer as u8, len as u32);
        head[4..HEADER_LEN].copy_from_slice(&fields);
        let head_len = HEADER_LEN + fixed_len;
        head[HEADER_LEN..head_len].copy_from_slice(&fixed[..fixed_len]);
        Ok(Self::framed(
            head,
            head_len,
            answer.frame,
            answer.input,
            limits,
        ))
    }

    /// The reply to a message the board does not speak ([`Request::Unsupported`]).
    pub fn unsupported(version: u8, kind: u8, limits: SendLimits) -> Self {
        let mut head = [0u8; HEAD_MAX];
        head[..4].copy_from_slice(&MARKER);
        let len = UNSUPPORTED_PAYLOAD_LEN as u32;
        head[4..HEADER_LEN].copy_from_slice(&header_fields(VERSION, Kind::Unsupported as u8, len));
        head[HEADER_LEN..HEADER_LEN + 2].copy_from_slice(&[version, kind]);
        Self::framed(head, HEADER_LEN + 2, &[], &[], limits)
    }

    fn framed(
        head: [u8; HEAD_MAX],
        head_len: usize,
        frame: &'a [u8],
        input: &'a [u8],
        limits: SendLimits,
    ) -> Self {
        let mut crc = Crc32::new();
        crc.update(&head[4..head_len]);
        crc.update(frame);
        crc.update(input);
        Self {
            head,
            head_len,
            frame,
            input,
            crc: crc.finish().to_le_bytes(),
            sent: 0,
            idle: 0,
            polls: 0,
            limits,
        }
    }

    /// The whole message's length in bytes.
    pub fn len(&self) -> usize {
        self.head_len + self.frame.len() + self.input.len() + TRAILER_LEN
    }

    /// Never true: a message has at least its framing.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Bytes written so far.
    pub fn sent(&self) -> usize {
        self.sent
    }

    /// The bytes still to send that lie in one piece, at most [`CHUNK`].
    fn next_piece(&self) -> &[u8] {
        let mut at = self.sent;
        let head = &self.head[..self.head_len];
        for part in [head, self.frame, self.input, &self.crc[..]] {
            if at < part.len() {
                let end = part.len().min(at + CHUNK);
                return &part[at..end];
            }
            at -= part.len();
        }
        &[]
    }

    /// Offers the next piece to `write`, which returns how many of its bytes it took
    /// (0 when it cannot take any now: a full USB buffer, no host reading). Call it
    /// until it says [`Progress::Done`] or [`Progress::Abandoned`].
    pub fn poll(&mut self, mut write: impl FnMut(&[u8]) -> usize) -> Progress {
        if self.sent >= self.len() {
            return Progress::Done;
        }
        if self.idle >= self.limits.idle_polls || self.polls >= self.limits.total_polls {
            return Progress::Abandoned;
        }
        self.polls += 1;
        let piece = self.next_piece();
        let wrote = write(piece).min(piece.len());
        self.sent += wrote;
        if wrote == 0 {
            self.idle += 1;
        } else {
            self.idle = 0;
        }
        if self.sent >= self.len() {
            Progress::Done
        } else if self.idle >= self.limits.idle_polls || self.polls >= self.limits.total_polls {
            Progress::Abandoned
        } else {
            Progress::Sending { wrote }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    const W: u16 = 160;
    const H: u16 = 120;

    fn frame() -> Vec<u8> {
        (0..usize::from(W) * usize::from(H))
            .map(|i| (i * 7 % 251) as u8)
            .collect()
    }

    fn input() -> Vec<u8> {
        (0..784).map(|i| (i * 13 % 256) as u8).collect()
    }

    fn answer<'a>(frame: &'a [u8], input: &'a [u8]) -> Answer<'a> {
        Answer {
            id: 0x1234,
            frame_number: 70_000,
            width: W,
            height: H,
            frame,
            input_side: 28,
            input,
            verdict: Verdict::Garment {
                class: 7,
                confidence_percent: 87,
                name: "Sneaker",
                scores: Scores::new(&[-128, -5, 0, 3, 127, 1, 2, 100, -1, 9]).unwrap(),
            },
        }
    }

    /// Everything a sender writes, taking at most `take(call)` bytes per call.
    fn send_all(sender: &mut Sender<'_>, mut take: impl FnMut(usize) -> usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut call = 0;
        loop {
            let n = take(call);
            call += 1;
            let p = sender.poll(|piece| {
                assert!(piece.len() <= CHUNK);
                let n = n.min(piece.len());
                out.extend_from_slice(&piece[..n]);
                n
            });
            match p {
                Progress::Done => return out,
                Progress::Abandoned => return out,
                Progress::Sending { .. } => {}
            }
        }
    }

    fn encoded(a: &Answer<'_>) -> Vec<u8> {
        send_all(
            &mut Sender::answer(a, SendLimits::default()).unwrap(),
            |_| CHUNK,
        )
    }

    /// A message's version, kind and payload, or why it was refused.
    type Found = Result<(u8, u8, Vec<u8>), LinkError>;

    /// The messages and errors a decoder finds in `bytes`, and the text.
    fn decode_all(bytes: &[u8]) -> (Vec<Found>, Vec<u8>) {
        let mut d = Decoder::new(std::vec![0u8; MAX_PAYLOAD]);
        let (mut found, mut text) = (Vec::new(), Vec::new());
        for &b in bytes {
            match d.push(b) {
                Event::Text(t) => text.push(t),
                Event::Pending => {}
                Event::Message(m) => found.push(Ok((m.version, m.kind, m.payload.to_vec()))),
                Event::Error(e) => found.push(Err(e)),
            }
        }
        (found, text)
    }

    /// The payload of the one version-1 message of kind `kind` in `bytes`.
    fn only_message(bytes: &[u8], kind: u8) -> Vec<u8> {
        let (mut found, _) = decode_all(bytes);
        assert_eq!(found.len(), 1, "{found:?}");
        match found.pop() {
            Some(Ok((1, k, payload))) if k == kind => payload,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_request_bytes_are_as_documented() {
        // docs/serial-protocol.md shows these bytes; the CRC is zlib.crc32 of bytes
        // 4..12 (python3 -c 'import zlib; print(hex(zlib.crc32(bytes([1,1,2,0,0,0,0x34,0x12]))))').
        let r = request(0x1234);
        assert_eq!(
            &r[..12],
            &[0xFF, 0xFA, b'F', b'M', 1, 1, 2, 0, 0, 0, 0x34, 0x12]
        );
        assert_eq!(
            u32::from_le_bytes([r[12], r[13], r[14], r[15]]),
            infer_core::crc32(&r[4..12])
        );
    }

    #[test]
    fn an_answer_round_trips_through_sender_and_decoder() {
        let (f, i) = (frame(), input());
        let a = answer(&f, &i);
        let bytes = encoded(&a);
        assert_eq!(bytes.len(), OVERHEAD + a.check().unwrap());
        assert_eq!(
            bytes.len(),
            Sender::answer(&a, SendLimits::default()).unwrap().len()
        );
        assert_eq!(&bytes[..4], &MARKER);
        let mut d = Decoder::new(std::vec![0u8; MAX_PAYLOAD]);
        let mut back = None;
        for &b in &bytes {
            if let Event::Message(m) = d.push(b) {
                back = Some(Answer::parse(&m).unwrap() == a);
            }
        }
        assert_eq!(back, Some(true));
        for verdict in [
            Verdict::NoGarment {
                reason: "no-object",
            },
            Verdict::Failed { reason: "classify" },
        ] {
            let a = Answer { verdict, ..a };
            let payload = only_message(&encoded(&a), 0x81);
            let m = Message {
                version: 1,
                kind: 0x81,
                payload: &payload,
            };
            assert_eq!(Answer::parse(&m).unwrap(), a);
        }
    }

    #[test]
    fn text_around_messages_passes_through() {
        let (f, i) = (frame(), input());
        let mut bytes = b"frame 12: Sneaker 87 % (capture 201 ms, classify 158 ms)\r\n".to_vec();
        bytes.extend_from_slice(&encoded(&answer(&f, &i)));
        bytes.extend_from_slice(b"frame 13: no garment found\r\n");
        let (found, text) = decode_all(&bytes);
        assert_eq!(found.len(), 1);
        assert!(found[0].is_ok());
        assert_eq!(
            text,
            b"frame 12: Sneaker 87 % (capture 201 ms, classify 158 ms)\r\nframe 13: no garment found\r\n"
        );
    }

    #[test]
    fn a_damaged_byte_is_a_crc_error_and_the_next_message_is_found() {
        let (f, i) = (frame(), input());
        let good = encoded(&answer(&f, &i));
        for at in [4, 5, 11, 30, 1000, good.len() - 1] {
            let mut bytes = good.clone();
            bytes[at] ^= 0x10;
            bytes.extend_from_slice(&good);
            let (found, _) = decode_all(&bytes);
            // A damaged length field may swallow part of the next message; otherwise
            // the damage is reported and the next message decodes.
            assert!(
                found.iter().any(|r| r.is_err()),
                "damage at {at} went unseen"
            );
            if at > 9 {
                assert!(matches!(found[0], Err(LinkError::BadCrc { .. })));
                assert!(found[1].is_ok());
            }
        }
    }

    #[test]
    fn a_length_beyond_the_buffer_is_refused_at_once() {
        let mut d = Decoder::new([0u8; LISTENER_BUF]);
        let mut bytes = MARKER.to_vec();
        bytes.extend_from_slice(&header_fields(1, 0x81, 20_000));
        let mut last = Event::Pending;
        for &b in &bytes {
            last = d.push(b);
        }
        assert_eq!(
            last,
            Event::Error(LinkError::TooLong {
                len: 20_000,
                max: LISTENER_BUF as u32
            })
        );
        assert_eq!(d.in_message(), None);
    }

    #[test]
    fn the_listener_hears_a_request_in_any_split_and_ignores_typing() {
        let r = request(7);
        for cut in 0..=r.len() {
            let mut l = Listener::new();
            assert!(!l.feed(b"hello\r\n\x1b[A\xff"));
            let asked = l.feed(&r[..cut]) | l.feed(&r[cut..]);
            assert!(asked);
            assert_eq!(l.take(), Some(Request::Frame { id: 7 }));
            assert_eq!(l.take(), None);
        }
        // A damaged request is no request.
        let mut bad = r;
        bad[11] ^= 1;
        let mut l = Listener::new();
        assert!(!l.feed(&bad));
        // Every printable ASCII and UTF-8 text: no request.
        let text: std::string::String = (' '..='~').chain("äöü€✓\r\n\t".chars()).collect();
        assert!(!l.feed(text.repeat(50).as_bytes()));
    }

    #[test]
    fn an_unknown_version_or_kind_asks_for_an_unsupported_reply() {
        let mut msg = MARKER.to_vec();
        let fields = header_fields(2, 0x01, 2);
        msg.extend_from_slice(&fields);
        msg.extend_from_slice(&[9, 0]);
        let mut crc = Crc32::new();
        crc.update(&fields);
        crc.update(&[9, 0]);
        msg.extend_from_slice(&crc.finish().to_le_bytes());
        let mut l = Listener::new();
        assert!(l.feed(&msg));
        assert_eq!(
            l.take(),
            Some(Request::Unsupported {
                version: 2,
                kind: 0x01
            })
        );
        // The reply: an Unsupported message the host reads as a refusal.
        let reply = send_all(
            &mut Sender::unsupported(2, 0x01, SendLimits::default()),
            |_| 64,
        );
        let payload = only_message(&reply, 0x82);
        let m = Message {
            version: 1,
            kind: 0x82,
            payload: &payload,
        };
        assert_eq!(
            Answer::parse(&m),
            Err(LinkError::Refused {
                version: 2,
                kind: 1
            })
        );
        // An answer of another version is a version mismatch.
        let m = Message {
            version: 2,
            kind: 0x81,
            payload: &payload,
        };
        assert_eq!(
            Answer::parse(&m),
            Err(LinkError::VersionMismatch { theirs: 2, ours: 1 })
        );
    }

    #[test]
    fn a_sink_that_stops_taking_bytes_abandons_the_answer() {
        let (f, i) = (frame(), input());
        let a = answer(&f, &i);
        let limits = SendLimits {
            idle_polls: 5,
            total_polls: 1_000_000,
        };
        let mut s = Sender::answer(&a, limits).unwrap();
        // Ten writes of up to 10 bytes (the head's last piece is 3), then nothing more.
        let out = send_all(&mut s, |call| if call < 10 { 10 } else { 0 });
        assert_eq!(out.len(), 93);
        assert_eq!(s.sent(), 93);
        assert_eq!(s.poll(|p| p.len()), Progress::Abandoned);
        // A sink that takes a byte at a time runs into the total bound.
        let limits = SendLimits {
            idle_polls: 5,
            total_polls: 50,
        };
        let mut s = Sender::answer(&a, limits).unwrap();
        assert_eq!(send_all(&mut s, |_| 1).len(), 50);
    }

    #[test]
    fn answers_out_of_range_are_refused_before_sending() {
        let (f, i) = (frame(), input());
        let a = answer(&f, &i);
        let bad = [
            Answer { width: 0, ..a },
            Answer {
                frame: &f[1..],
                ..a
            },
            Answer {
                input_side: 27,
                ..a
            },
            Answer {
                verdict: Verdict::Failed {
                    reason: "a reason longer than thirty-two bytes",
                },
                ..a
            },
        ];
        for b in bad {
            assert!(matches!(
                Sender::answer(&b, SendLimits::default()),
                Err(LinkError::BadField { .. })
            ));
        }
        assert_eq!(Scores::new(&[0; MAX_SCORES + 1]), None);
    }

    proptest! {
        #[test]
        fn any_chunking_of_sink_and_stream_gives_the_same_answer(
            takes in proptest::collection::vec(1usize..=64, 1..20),
        ) {
            let (f, i) = (frame(), input());
            let a = answer(&f, &i);
            let whole = encoded(&a);
            // A sink that takes one byte at a time needs more than the default calls.
            let limits = SendLimits { idle_polls: 10, total_polls: u32::MAX };
            let mut s = Sender::answer(&a, limits).unwrap();
            let pieces = send_all(&mut s, |call| takes[call % takes.len()]);
            prop_assert_eq!(&pieces, &whole);
        }

        #[test]
        fn garbage_never_panics_the_decoder_or_the_parser(
            bytes in proptest::collection::vec(any::<u8>(), 0..400),
            with_marker in any::<bool>(),
        ) {
            let mut stream = Vec::new();
            if with_marker {
                stream.extend_from_slice(&MARKER);
            }
            stream.extend_from_slice(&bytes);
            let mut d = Decoder::new([0u8; 64]);
            for &b in &stream {
                if let Event::Message(m) = d.push(b) {
                    let _ = Answer::parse(&m);
                }
            }
            let m = Message { version: 1, kind: 0x81, payload: &bytes };
            let _ = Answer::parse(&m);
            let mut l = Listener::new();
            l.feed(&stream);
        }

        #[test]
        fn garbage_with_a_good_crc_never_panics_the_parser(
            payload in proptest::collection::vec(any::<u8>(), 0..200),
            head in proptest::collection::vec(any::<u8>(), 16),
        ) {
            // Valid framing around a random fixed part, scores and name.
            let mut p = head.clone();
            p.extend_from_slice(&payload);
            let m = Message { version: 1, kind: 0x81, payload: &p };
            if let Ok(a) = Answer::parse(&m) {
                prop_assert_eq!(a.check(), Ok(p.len()));
            }
        }
    }
}
