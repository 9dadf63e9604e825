//! Prints, for every sample frame, the line the firmware logs: frame, true label,
//! predicted class and name, int8 scores and the screen's checksum, computed on the
//! host with the same code. `scripts/firmware-check.sh` diffs it with QEMU's output.
//!
//! `cargo run -p fw-host --bin expected --target x86_64-unknown-linux-gnu --
//!  [--camera] FRAMES.bin MODEL.fmq [SCREENS_DIR]` (SCREENS_DIR: also write each screen
//!  as `screenK.pgm`, and as `screenK.png` enlarged 2x)
//!
//! `cargo run -p fw-host --bin expected --target x86_64-unknown-linux-gnu -- --scene
//!  SCENES.bin`: instead, for every frame the line `fw-qemu --example scene-cost` logs
//! for it (`camera::scene::preprocess_scene` alone: outcome, box, CRC of the
//! model input; `fw_common::scene`).
//!
//! `--camera`: every frame goes the way a board's does: shown to the simulated OV7675
//! (`ov767x::sim`, configured by the driver), captured by `ov767x::capture_y` over the
//! simulated parallel bus, then processed; and the board's serial line for it follows
//! each frame line (`board frame K: …`; no timing on the host: 0 ms).

use camera::Config;
use fw_common::display::{self, Framebuffer};
use fw_common::frames::Captured;
use fw_common::frames::{FlashFrames, FrameSet, FrameSource};
use fw_common::live::{self, NoGuard, OvCamera};
use fw_common::pipeline::{self, NoStopwatch};
use infer_core::IMAGE_LEN as PIXELS;
use infer_core::Model;
use ov767x::sim::SimOv7675;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--scene") {
        let [_, frames_path] = args.as_slice() else {
            return Err("usage: expected --scene SCENES.bin".into());
        };
        return print_scenes(&std::fs::read(frames_path)?);
    }
    let via_camera = args.first().is_some_and(|a| a == "--camera");
    if via_camera {
        args.remove(0);
    }
    let [frames_path, model_path, rest @ ..] = args.as_slice() else {
        return Err("usage: expected [--camera] FRAMES.bin MODEL.fmq [SCREENS_DIR]".into());
    };
    let blob = std::fs::read(frames_path)?;
    let model_bytes = std::fs::read(model_path)?;
    let model = Model::from_bytes(&model_bytes)?;
    let mut source = FlashFrames::new(FrameSet::parse(&blob)?);
    let mut scratch = vec![0i8; model.scratch_len()];
    let mut input = [0u8; PIXELS];
    let mut screen = Framebuffer::new();
    let mut sim = SimOv7675::new(&[]);
    if via_camera {
        ov767x::Ov767x::new(&mut sim, ov767x::Sensor::Ov7675)
            .init(ov767x::FrameRate::Fps5, &mut NoDelay)
            .map_err(|e| format!("simulated camera: {e}"))?;
    }
    let mut y = Box::new([0u8; ov767x::WIDTH * ov767x::HEIGHT]);
    let mut index = 0;
    while let Some(flash) = source.next_frame()? {
        let camera_frame;
        let captured = if via_camera {
            let f = flash.frame;
            if (f.width(), f.height()) != (ov767x::WIDTH, ov767x::HEIGHT) {
                return Err(format!("frame {index}: not 160x120, the camera's size").into());
            }
            sim.set_picture(f.pixels());
            let limits = sim.limits();
            let mut cam = OvCamera::new(&mut sim, &mut y, limits, NoGuard);
            let c = cam.next_frame()?.ok_or("the camera stopped")?;
            camera_frame = c.frame.pixels().to_vec();
            // The label stays known on the host (for the frame line).
            Captured {
                frame: camera::Frame::new(&camera_frame, ov767x::WIDTH, ov767x::HEIGHT)?,
                label: flash.label,
            }
        } else {
            flash
        };
        let outcome = pipeline::process(
            &model,
            index,
            &captured,
            &Config::default(),
            &mut input,
            &mut scratch,
            &mut screen,
            &mut NoStopwatch,
        )?;
        let label = captured.label.map_or(-1, i16::from);
        match &outcome.result {
            Ok((d, p)) => println!(
                "frame={index} label={label} mode={} class={} name={} scores={:?} screen={}",
                d.mode.name(),
                p.class,
                p.name,
                p.scores.as_slice(),
                screen.checksum()
            ),
            Err(e) if e.nothing_there() => println!(
                "frame={index} label={label} mode={} no garment found reason={} screen={}",
                pipeline::mode_name(e.mode()),
                e.name(),
                screen.checksum()
            ),
            Err(e) => println!(
                "frame={index} label={label} error={} screen={}",
                e.name(),
                screen.checksum()
            ),
        }
        if via_camera {
            println!("board {}", live::answer_line(index as u32, &outcome, 0, 0));
        }
        if let Some(dir) = rest.first() {
            let dir = std::path::Path::new(dir);
            let mut pgm = format!("P5 {} {} 255\n", display::WIDTH, display::HEIGHT).into_bytes();
            pgm.extend_from_slice(screen.pixels());
            std::fs::write(dir.join(format!("screen{index}.pgm")), pgm)?;
            let png = gray_png(screen.pixels(), display::WIDTH, display::HEIGHT, 2);
            std::fs::write(dir.join(format!("screen{index}.png")), png)?;
        }
        index += 1;
    }
    Ok(())
}

/// Prints, for every frame of the frames blob `blob`, the scene path's line as
/// `fw-qemu --example scene-cost` logs it.
fn print_scenes(blob: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
    let frames = FrameSet::parse(blob)?;
    let mut input = [0u8; PIXELS];
    for k in 0..frames.len() {
        let frame = frames.get(k).ok_or("frame missing")?.frame;
        let d = fw_common::scene::scene_digest(&frame, &mut input);
        let (left, top, width, height) = d
            .object
            .map_or((0, 0, 0, 0), |o| (o.left, o.top, o.width, o.height));
        println!(
            "scene frame={k} outcome={} left={left} top={top} width={width} height={height} input_crc={}",
            d.outcome, d.input_crc
        );
    }
    Ok(())
}

/// The simulation needs no real waiting.
struct NoDelay;

impl embedded_hal::delay::DelayNs for NoDelay {
    fn delay_ns(&mut self, _ns: u32) {}
}

/// A grayscale PNG of `pixels` (`width` x `height`, row-major), each pixel enlarged to
/// `scale` x `scale`: zlib with stored (uncompressed) deflate blocks, so that no
/// compression library is needed; CRC-32 from infer-core (the PNG polynomial).
fn gray_png(pixels: &[u8], width: usize, height: usize, scale: usize) -> Vec<u8> {
    let (w, h) = (width * scale, height * scale);
    // Filter byte 0 (none) before every row.
    let mut raw = Vec::with_capacity((w + 1) * h);
    for y in 0..h {
        raw.push(0);
        let row = &pixels[(y / scale) * width..(y / scale + 1) * width];
        raw.extend(row.iter().flat_map(|&p| std::iter::repeat_n(p, scale)));
    }
    let mut zlib = vec![0x78, 0x01];
    let mut blocks = raw.chunks(65_535).peekable();
    while let Some(block) = blocks.next() {
        zlib.push(u8::from(blocks.peek().is_none()));
        let len = block.len() as u16;
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8; 4], data: &[u8]| {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = png.len();
        png.extend_from_slice(kind);
        png.extend_from_slice(data);
        let crc = infer_core::crc32(&png[start..]);
        png.extend_from_slice(&crc.to_be_bytes());
    };
    let mut header = Vec::new();
    header.extend_from_slice(&(w as u32).to_be_bytes());
    header.extend_from_slice(&(h as u32).to_be_bytes());
    // 8-bit grayscale, deflate, adaptive filtering, no interlace.
    header.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(b"IHDR", &header);
    chunk(b"IDAT", &zlib);
    chunk(b"IEND", &[]);
    png
}
