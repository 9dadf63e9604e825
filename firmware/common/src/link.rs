//! The board apps' side of the serial link (`camera::link`, `docs/serial-protocol.md`):
//! what a frame's answer says, and the loop that writes it to the USB serial port.
//!
//! A board app keeps a [`Listener`] (for example in a `static` behind a
//! `cortex_m::interrupt::Mutex`), feeds it every byte the serial port gives, and after
//! each frame's text line asks it whether an answer is wanted:
//! ```text
//! // USB interrupt:  let n = serial.read(&mut buf)?;  listener.feed(&buf[..n]);
//! // main loop, after print(frame.line):
//! if let Some(request) = listener.take() {
//!     let mut sender = link::reply(request, index, camera.frame(), &input, frame.verdict);
//!     link::send(&mut sender, |piece| usb_write(piece), || delay.delay_ms(1));
//! }
//! ```
//! The answer is the frame just processed; nothing is sent unless asked, so a terminal
//! user sees only the text lines.

use camera::link::{Answer, Scores};
pub use camera::link::{Listener, Progress, Request, SendLimits, Sender, Verdict};
use infer_core::IMAGE_LEN as PIXELS;
use infer_core::IMAGE_SIDE;
use ov767x::{HEIGHT, WIDTH};

use crate::pipeline::Outcome;

/// What the model said about a frame, as the link sends it: the class with its name,
/// confidence and int8 scores; or "no garment" / "failed" with the short reason the
/// text line prints (`no-object`, `classify`, ...).
pub fn verdict<'m>(outcome: &Outcome<'m>) -> Verdict<'m> {
    match &outcome.result {
        Ok((_, p)) => match (u8::try_from(p.class), Scores::new(&p.scores)) {
            (Ok(class), Some(scores)) if class != u8::MAX => Verdict::Garment {
                class,
                confidence_percent: outcome.confidence_percent,
                name: p.name,
                scores,
            },
            // A model with more classes than the link carries (none of the project's).
            _ => Verdict::Failed {
                reason: "too-many-classes",
            },
        },
        Err(e) if e.nothing_there() => Verdict::NoGarment { reason: e.name() },
        Err(e) => Verdict::Failed { reason: e.name() },
    }
}

/// The reply to `request`: frame `frame_number`'s Y plane, model input and verdict for
/// a frame request, a refusal for a message the board does not speak. Default
/// [`SendLimits`].
pub fn reply<'a>(
    request: Request,
    frame_number: u32,
    frame: &'a [u8; WIDTH * HEIGHT],
    input: &'a [u8; PIXELS],
    verdict: Verdict<'a>,
) -> Sender<'a> {
    let limits = SendLimits::default();
    match request {
        Request::Frame { id } => {
            let answer = Answer {
                id,
                frame_number,
                width: WIDTH as u16,
                height: HEIGHT as u16,
                frame,
                input_side: IMAGE_SIDE as u8,
                input,
                verdict,
            };
            // Cannot fail: a QQVGA frame, a 28x28 input, and a verdict from `verdict`
            // (names of at most 32 bytes: the longest class name has 11). Should it,
            // the host hears a refusal instead of nothing.
            Sender::answer(&answer, limits)
                .unwrap_or_else(|_| Sender::unsupported(camera::link::VERSION, 0x01, limits))
        }
        Request::Unsupported { version, kind } => Sender::unsupported(version, kind, limits),
    }
}

/// Writes the whole message: offers `write` pieces of at most 64 bytes (it returns how
/// many it took, 0 when the USB buffer is full or nobody reads), calls `wait` (about
/// 1 ms) after each piece it did not take, and gives up after the sender's
/// [`SendLimits`]. Returns [`Progress::Done`] or [`Progress::Abandoned`].
pub fn send(
    sender: &mut Sender<'_>,
    mut write: impl FnMut(&[u8]) -> usize,
    mut wait: impl FnMut(),
) -> Progress {
    loop {
        match sender.poll(&mut write) {
            Progress::Sending { wrote: 0 } => wait(),
            Progress::Sending { .. } => {}
            done => return done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{FrameError, Timing};
    use camera::link::{Decoder, Event};
    use camera::preprocess;

    fn outcome(e: preprocess::Error) -> Outcome<'static> {
        Outcome {
            result: Err(FrameError::Preprocess(e)),
            confidence_percent: 0,
            timing: Timing::default(),
        }
    }

    #[test]
    fn the_verdict_of_a_frame_without_a_garment_or_a_failed_one() {
        let none = outcome(preprocess::Error::NoObject {
            background: 200,
            threshold: 160,
            mode: preprocess::Mode::Photo,
        });
        assert_eq!(
            verdict(&none),
            Verdict::NoGarment {
                reason: "no-object"
            }
        );
        let failed = outcome(preprocess::Error::Empty);
        assert_eq!(
            verdict(&failed),
            Verdict::Failed {
                reason: "bad-frame"
            }
        );
    }

    #[test]
    fn a_reply_goes_out_through_a_slow_sink_and_decodes() {
        let frame = [7u8; WIDTH * HEIGHT];
        let input = [9u8; PIXELS];
        let v = Verdict::NoGarment {
            reason: "no-object",
        };
        let mut sender = reply(Request::Frame { id: 5 }, 42, &frame, &input, v);
        let mut wire = std::vec::Vec::new();
        let (mut calls, mut waits) = (0u32, 0u32);
        let progress = send(
            &mut sender,
            |piece| {
                assert!(piece.len() <= 64);
                calls += 1;
                // A USB buffer that is full every third call and takes 40 bytes else.
                let n = if calls % 3 == 0 {
                    0
                } else {
                    piece.len().min(40)
                };
                wire.extend_from_slice(&piece[..n]);
                n
            },
            || waits += 1,
        );
        assert_eq!(progress, Progress::Done);
        assert!(waits > 0);
        let mut d = Decoder::new(std::vec![0u8; camera::link::MAX_PAYLOAD]);
        let mut got = None;
        for &b in &wire {
            if let Event::Message(m) = d.push(b) {
                got = Some(Answer::parse(&m).map(|a| (a.id, a.frame_number, a.verdict == v)));
            }
        }
        assert_eq!(got, Some(Ok((5, 42, true))));
    }

    #[test]
    fn a_host_that_stops_reading_gets_an_abandoned_answer() {
        let frame = [0u8; WIDTH * HEIGHT];
        let input = [0u8; PIXELS];
        let v = Verdict::Failed { reason: "x" };
        let mut sender = reply(Request::Frame { id: 1 }, 0, &frame, &input, v);
        let mut waits = 0u32;
        let progress = send(&mut sender, |_| 0, || waits += 1);
        assert_eq!(progress, Progress::Abandoned);
        assert_eq!(waits, SendLimits::default().idle_polls - 1);
    }
}
