//! The cost of the scene preprocessing (`camera::scene::preprocess_scene`, the apps'
//! path) per 160x120 frame, counted in QEMU (`-icount shift=0`: one SysTick tick is 40
//! instructions; the firmware's release profile), next to the earlier path's
//! (`camera::preprocess`) on the same frames:
//! `cd firmware && cargo run --release -p fw-qemu --example scene-cost`.
//!
//! The frames are `firmware/frames/scenes.bin` (10 scene frames, written by
//! `photo-eval --scene-frames`). Per frame it logs
//! `scene frame=K outcome=… left=… top=… width=… height=… input_crc=…`, the line that
//! fw-host's `expected --scene` prints for the same frame on the host
//! (`scripts/firmware-check.sh` diffs them), and the instructions of both paths; then
//! their mean, least and most. Exits with 0 when every frame was processed, 1 otherwise.
#![no_std]
#![no_main]

mod support;

use core::hint::black_box;

use cortex_m_rt::entry;
use cortex_m_semihosting::debug::{EXIT_FAILURE, EXIT_SUCCESS};
use defmt_semihosting as _;
use fw_common::app::SysTickStopwatch;
use fw_common::camera::{Config, FrameSet, preprocess};
use fw_common::infer_core::IMAGE_LEN;
use fw_common::pipeline::Stopwatch;
use fw_common::scene::scene_digest;
use support::exit;

/// Instructions per SysTick tick with `-icount shift=0` (25 MHz, 1 ns per instruction).
const INSTRUCTIONS_PER_TICK: u32 = 40;

/// The scene frames.
static SCENES: &[u8] = include_bytes!("../../frames/scenes.bin");

/// Least, most and total of a series of counts.
#[derive(Clone, Copy)]
struct Spread {
    least: u32,
    most: u32,
    total: u64,
}

impl Spread {
    const EMPTY: Self = Self {
        least: u32::MAX,
        most: 0,
        total: 0,
    };

    fn add(&mut self, v: u32) {
        self.least = self.least.min(v);
        self.most = self.most.max(v);
        self.total += u64::from(v);
    }
}

#[entry]
fn main() -> ! {
    let Some(mut core) = cortex_m::Peripherals::take() else {
        exit(EXIT_FAILURE)
    };
    let Ok(frames) = FrameSet::parse(SCENES) else {
        exit(EXIT_FAILURE)
    };
    let mut sw = SysTickStopwatch::start(&mut core.SYST, INSTRUCTIONS_PER_TICK, "instructions");
    let mut input = [0u8; IMAGE_LEN];
    let (mut scene, mut classic) = (Spread::EMPTY, Spread::EMPTY);
    for k in 0..frames.len() {
        let Some(sample) = frames.get(k) else {
            exit(EXIT_FAILURE)
        };
        let frame = sample.frame;
        let t = sw.now();
        let digest = scene_digest(black_box(&frame), &mut input);
        let cost = sw.since(t);
        scene.add(cost);
        let (left, top, width, height) = digest
            .object
            .map_or((0, 0, 0, 0), |o| (o.left, o.top, o.width, o.height));
        defmt::info!(
            "scene frame={=usize} outcome={=str} left={=i32} top={=i32} width={=u32} height={=u32} input_crc={=u32}",
            k,
            digest.outcome,
            left,
            top,
            width,
            height,
            digest.input_crc
        );
        let t = sw.now();
        let _ = black_box(preprocess(
            black_box(&frame),
            &Config::default(),
            &mut input,
        ));
        let base = sw.since(t);
        classic.add(base);
        defmt::info!(
            "scene-cost frame={=usize} scene={=u32} classic={=u32} {=str}",
            k,
            cost,
            base,
            sw.unit()
        );
    }
    let n = frames.len().max(1) as u64;
    defmt::info!(
        "scene-cost mean over {=usize} frames: scene {=u64} ({=u32}..{=u32}), classic {=u64} ({=u32}..{=u32}) {=str}",
        frames.len(),
        scene.total / n,
        scene.least,
        scene.most,
        classic.total / n,
        classic.least,
        classic.most,
        sw.unit()
    );
    exit(if frames.is_empty() {
        EXIT_FAILURE
    } else {
        EXIT_SUCCESS
    })
}
