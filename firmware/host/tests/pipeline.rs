//! The whole board pipeline on the host: each sample frame shown to the simulated
//! OV7675, configured by the driver, captured over the simulated parallel bus
//! (`OvCamera`, as on the boards), preprocessed, classified and drawn; the outcome
//! equals the one of the frame read straight from flash (what the QEMU app runs, and
//! what `scripts/firmware-check.sh` compares with QEMU line for line), and the board's
//! serial line is the documented one. A board whose D0/D1 are swapped (some Tiny ML
//! Kit shields) gives the same lines once the wiring self-test has corrected it.

use std::cell::RefCell;

use fw_common::display::Framebuffer;
use fw_common::frames::{FlashFrames, FrameSet, FrameSource};
use fw_common::live::{self, NoGuard, OvCamera};
use fw_common::pipeline;
use infer_core::Model;
use ov767x::sim::{BusFault, SimHandle, SimOv7675, Timing};
use ov767x::{FrameRate, HEIGHT, Ov767x, Sensor, WIDTH, WiringReport};

mod common;
use common::{NoDelay, frames_blob, mcu_model_bytes, process};

/// The board's line for each sample frame with the mcu model, timing left at 0 ms:
/// produced by this pipeline (the scene path) and checked against the QEMU app's
/// `frame=` lines of `scripts/firmware-check.sh` (9 of 10 right, the coat (frame 4)
/// taken for a pullover; `camera::preprocess` took it for a shirt).
const BOARD_LINES: &[&str] = &[
    "frame 0: T-shirt/top 83 % (capture 0 ms, classify 0 ms)",
    "frame 1: Trouser 91 % (capture 0 ms, classify 0 ms)",
    "frame 2: Pullover 90 % (capture 0 ms, classify 0 ms)",
    "frame 3: Dress 91 % (capture 0 ms, classify 0 ms)",
    "frame 4: Pullover 26 % (capture 0 ms, classify 0 ms)",
    "frame 5: Sandal 92 % (capture 0 ms, classify 0 ms)",
    "frame 6: Shirt 82 % (capture 0 ms, classify 0 ms)",
    "frame 7: Sneaker 90 % (capture 0 ms, classify 0 ms)",
    "frame 8: Bag 86 % (capture 0 ms, classify 0 ms)",
    "frame 9: Ankle boot 85 % (capture 0 ms, classify 0 ms)",
];

/// Every sample frame shown to the simulated OV7675 on a board whose data lines have
/// `bus`, configured by the driver, captured by one `OvCamera` (after its wiring
/// self-test when `check`), preprocessed, classified and drawn. Asserts that each
/// captured frame, model input and prediction equal those of the frame read straight
/// from flash; returns the board's lines and the self-test's report.
fn board_run(bus: BusFault, check: bool) -> (Vec<String>, Option<WiringReport>) {
    let (model_bytes, blob) = (mcu_model_bytes(), frames_blob());
    let model = Model::from_bytes(&model_bytes).unwrap();
    let set = FrameSet::parse(&blob).unwrap();
    let mut flash = FlashFrames::new(set);
    let mut scratch = vec![0i8; model.scratch_len()];
    let (mut input_a, mut input_b) = ([0u8; 784], [0u8; 784]);
    let (mut screen_a, mut screen_b) = (Framebuffer::new(), Framebuffer::new());

    // A PCLK running through the blanking and a capture that starts mid-frame: the
    // board's worst case, not the simulation's default.
    let sim = SimOv7675::new(&[])
        .with_timing(Timing {
            start: 123_457,
            ..Timing::default()
        })
        .with_bus_fault(bus);
    let cell = RefCell::new(sim);
    let mut sensor = Ov767x::new(SimHandle(&cell), Sensor::Ov7675);
    sensor.init(FrameRate::Fps5, &mut NoDelay).unwrap();
    let limits = cell.borrow().limits();
    let mut y = Box::new([0u8; WIDTH * HEIGHT]);
    let mut cam = OvCamera::new(SimHandle(&cell), &mut y, limits, NoGuard);
    let report = check.then(|| cam.check_wiring(&mut sensor).unwrap());

    let mut lines = Vec::new();
    let mut index = 0;
    while let Some(from_flash) = flash.next_frame().unwrap() {
        cell.borrow_mut().set_picture(from_flash.frame.pixels());
        let from_camera = cam.next_frame().unwrap().unwrap();
        assert_eq!(
            from_camera.frame, from_flash.frame,
            "frame {index}: capture"
        );
        let a = process(
            &model,
            index,
            &from_flash,
            &mut input_a,
            &mut scratch,
            &mut screen_a,
        );
        let b = process(
            &model,
            index,
            &from_camera,
            &mut input_b,
            &mut scratch,
            &mut screen_b,
        );
        let scores = |o: &pipeline::Outcome<'_>| {
            o.result
                .as_ref()
                .ok()
                .map(|(_, p)| (p.class, p.scores.clone()))
        };
        assert_eq!(scores(&a), scores(&b), "frame {index}: prediction");
        assert_eq!(input_a, input_b);
        // The camera frame has no label, so only the "true:" text may differ.
        let line_a = live::answer_line(index as u32, &a, 0, 0);
        let line_b = live::answer_line(index as u32, &b, 0, 0);
        assert_eq!(line_a, line_b);
        lines.push(line_b.to_string());
        index += 1;
    }
    assert_eq!(index, 10);
    (lines, report)
}

#[test]
fn simulated_camera_to_the_board_line_equals_the_flash_frames() {
    let (lines, _) = board_run(BusFault::None, false);
    for l in &lines {
        println!("{l}");
    }
    assert_eq!(lines, BOARD_LINES);
}

#[test]
fn a_good_board_passes_the_wiring_self_test_and_prints_the_same_lines() {
    let (lines, report) = board_run(BusFault::None, true);
    assert_eq!(report, Some(WiringReport::Ok));
    assert_eq!(lines, BOARD_LINES);
}

#[test]
fn a_kit_with_d0_d1_swapped_is_corrected_to_the_lines_of_a_good_board() {
    let (lines, report) = board_run(BusFault::swap(0, 1), true);
    let report = report.unwrap();
    assert_eq!(
        report.to_string(),
        "camera wiring: D0/D1 swapped, corrected"
    );
    assert_eq!(lines, BOARD_LINES);
}

#[test]
#[should_panic(expected = "frame 0: capture")]
fn without_the_self_test_a_d0_d1_swap_changes_the_frames() {
    board_run(BusFault::swap(0, 1), false);
}

#[test]
fn board_line_formats() {
    let model_bytes = mcu_model_bytes();
    let model = Model::from_bytes(&model_bytes).unwrap();
    let mut scratch = vec![0i8; model.scratch_len()];
    let mut input = [0u8; 784];
    // A blank grey frame: no garment.
    let grey = vec![180u8; WIDTH * HEIGHT];
    let frame = camera::Frame::new(&grey, WIDTH, HEIGHT).unwrap();
    let captured = fw_common::frames::Captured { frame, label: None };
    let o = process(
        &model,
        0,
        &captured,
        &mut input,
        &mut scratch,
        &mut Framebuffer::new(),
    );
    assert!(!live::garment(&o));
    assert_eq!(
        live::answer_line(13, &o, 199, 0).as_str(),
        "frame 13: no garment found (capture 199 ms, classify 0 ms)"
    );
}
