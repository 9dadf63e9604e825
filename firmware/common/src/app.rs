//! The demo loop both firmware apps run: frames in, classes and pictures out, with
//! defmt logs of every result and of the work it took.
//!
//! Log lines (decoded by `defmt-print`), one kind per prefix:
//! ```text
//! model bytes=… layers=… classes=… scratch=… macs=… load=…
//! model-crc load_crc=…                                            (QEMU app only)
//! frame=K label=L mode=M class=C name=N scores=[…] screen=CRC   (compared with the host)
//! frame=K label=L mode=M no garment found reason=R screen=CRC    (an empty frame; also compared)
//! frame=K label=L error=E screen=CRC                              (a failure)
//! work frame=K preprocess=… classify=… draw=… unit=U classify_per_mac_x100=…
//! summary frames=… correct=… empty=… failed=… classify_min=… classify_max=… unit=U macs=…
//! memory text=… rodata=… data=… bss=… stack_hwm=… stack_size=… (bytes)
//! ```

use camera::Config;
use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use embedded_graphics::pixelcolor::Gray8;
use embedded_graphics::prelude::DrawTarget;
use infer_core::IMAGE_LEN as PIXELS;
use infer_core::Model;

use crate::frames::FrameSource;
use crate::live::{self, Line};
use crate::pipeline::{self, Stopwatch};
use crate::stack;

/// SysTick as a free-running 24-bit down-counter on the core clock.
///
/// In QEMU with `-icount shift=0` one tick is 40 instructions (the clock is 25 MHz
/// and every instruction takes 1 ns); on a board one tick is one core cycle.
#[derive(Debug)]
pub struct SysTickStopwatch {
    units_per_tick: u32,
    unit: &'static str,
}

impl SysTickStopwatch {
    /// Starts SysTick counting down from 2^24 - 1 forever (no interrupt); the caller
    /// says what one tick is worth and in which unit.
    pub fn start(syst: &mut SYST, units_per_tick: u32, unit: &'static str) -> Self {
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(0x00FF_FFFF);
        syst.clear_current();
        syst.disable_interrupt();
        syst.enable_counter();
        Self {
            units_per_tick,
            unit,
        }
    }

    /// The unit of [`Stopwatch::since`] ("instructions" or "cycles").
    pub fn unit(&self) -> &'static str {
        self.unit
    }
}

impl Stopwatch for SysTickStopwatch {
    fn now(&mut self) -> u32 {
        SYST::get_current()
    }

    /// Exact while less than 2^24 ticks passed (671 M instructions in QEMU).
    fn since(&mut self, start: u32) -> u32 {
        let ticks = start.wrapping_sub(SYST::get_current()) & 0x00FF_FFFF;
        ticks.saturating_mul(self.units_per_tick)
    }
}

/// Totals of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, defmt::Format)]
pub struct Report {
    /// Frames processed.
    pub frames: usize,
    /// Frames whose prediction equals the known label.
    pub correct: usize,
    /// Frames answered "no garment found".
    pub empty: usize,
    /// Frames that could not be processed (not counting empty ones).
    pub failed: usize,
}

/// Why the run stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, defmt::Format)]
pub enum AppError {
    /// The embedded model file is invalid.
    Model(infer_core::Error),
    /// The scratch buffer is smaller than the model needs.
    Scratch {
        /// Bytes the model needs.
        needed: usize,
        /// Bytes given.
        got: usize,
    },
    /// The frame source failed.
    Source,
    /// Drawing failed.
    Display,
}

/// Times `Model::from_bytes` (with the CRC) on `model_bytes` once and logs it
/// (`model-crc load_crc=…`): for the QEMU report, which compares it with the
/// start-up in [`run`]; a board need not spend it.
pub fn log_checked_load(
    model_bytes: &[u8],
    stopwatch: &mut SysTickStopwatch,
) -> Result<(), AppError> {
    let t = stopwatch.now();
    let checked = Model::from_bytes(model_bytes).map(|_| ());
    let load_crc = stopwatch.since(t);
    checked.map_err(AppError::Model)?;
    defmt::info!("model-crc load_crc={=u32}", load_crc);
    Ok(())
}

/// Classifies every frame of `source`, draws each onto `screen`, and logs results,
/// work and memory. `checksum` fingerprints the screen after each frame.
pub fn run<S, D>(
    model_bytes: &[u8],
    source: &mut S,
    screen: &mut D,
    checksum: impl Fn(&D) -> u32,
    stopwatch: &mut SysTickStopwatch,
    scratch: &mut [i8],
    input: &mut [u8; PIXELS],
) -> Result<Report, AppError>
where
    S: FrameSource,
    D: DrawTarget<Color = Gray8>,
{
    // Start-up: the build script ran `Model::from_bytes` (CRC included) on
    // these very bytes, so the firmware skips recomputing the CRC
    // (`from_bytes_unverified` makes every other check).
    let t = stopwatch.now();
    let model = Model::from_bytes_unverified(model_bytes).map_err(AppError::Model)?;
    let load = stopwatch.since(t);
    let macs = model.macs();
    defmt::info!(
        "model bytes={=usize} layers={=usize} classes={=usize} scratch={=usize} macs={=u64} load={=u32}",
        model_bytes.len(),
        model.file().layers.len(),
        model.num_classes(),
        model.scratch_len(),
        macs,
        load
    );
    if scratch.len() < model.scratch_len() {
        return Err(AppError::Scratch {
            needed: model.scratch_len(),
            got: scratch.len(),
        });
    }
    let unit = stopwatch.unit();
    let config = Config::default();
    let mut report = Report::default();
    let (mut classify_min, mut classify_max) = (u32::MAX, 0u32);
    let mut index = 0usize;
    loop {
        let captured = match source.next_frame() {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(_) => return Err(AppError::Source),
        };
        let label = captured.label.map_or(-1, i16::from);
        let outcome = pipeline::process(
            &model, index, &captured, &config, input, scratch, screen, stopwatch,
        )
        .map_err(|_| AppError::Display)?;
        let screen_sum = checksum(screen);
        let t = outcome.timing;
        match &outcome.result {
            Ok((d, p)) => {
                defmt::info!(
                    "frame={=usize} label={=i16} mode={=str} class={=usize} name={=str} scores={=[?]} screen={=u32}",
                    index,
                    label,
                    d.mode.name(),
                    p.class,
                    p.name,
                    p.scores.as_slice(),
                    screen_sum
                );
                if i16::try_from(p.class).ok() == Some(label) {
                    report.correct += 1;
                }
                classify_min = classify_min.min(t.classify);
                classify_max = classify_max.max(t.classify);
            }
            Err(e) if e.nothing_there() => {
                defmt::info!(
                    "frame={=usize} label={=i16} mode={=str} no garment found reason={=str} screen={=u32}",
                    index,
                    label,
                    pipeline::mode_name(e.mode()),
                    e.name(),
                    screen_sum
                );
                report.empty += 1;
            }
            Err(e) => {
                defmt::warn!(
                    "frame={=usize} label={=i16} error={=str} screen={=u32}",
                    index,
                    label,
                    e.name(),
                    screen_sum
                );
                report.failed += 1;
            }
        }
        let per_mac_x100 = u64::from(t.classify) * 100 / macs.max(1);
        defmt::info!(
            "work frame={=usize} preprocess={=u32} classify={=u32} draw={=u32} unit={=str} classify_per_mac_x100={=u64}",
            index,
            t.preprocess,
            t.classify,
            t.draw,
            unit,
            per_mac_x100
        );
        index += 1;
    }
    report.frames = index;
    if classify_min > classify_max {
        classify_min = 0;
    }
    log_layers(&model, input, scratch, stopwatch);
    defmt::info!(
        "summary frames={=usize} correct={=usize} empty={=usize} failed={=usize} classify_min={=u32} classify_max={=u32} unit={=str} macs={=u64}",
        report.frames,
        report.correct,
        report.empty,
        report.failed,
        classify_min,
        classify_max,
        unit,
        macs
    );
    log_memory();
    Ok(report)
}

/// Classifies `input` (the last frame's) once more and logs the work of each
/// step: `layer index=… kind=… macs=… outputs=… work=… unit=…`.
fn log_layers(
    model: &Model<'_>,
    input: &[u8; PIXELS],
    scratch: &mut [i8],
    stopwatch: &mut SysTickStopwatch,
) {
    let unit = stopwatch.unit();
    let mut t = stopwatch.now();
    let result = model.logits_observed(input, scratch, |step| {
        let work = stopwatch.since(t);
        defmt::info!(
            "layer index={=usize} kind={=str} macs={=u64} outputs={=usize} work={=u32} unit={=str}",
            step.index,
            step.kind,
            step.macs,
            step.outputs,
            work,
            unit
        );
        // Logging is not counted: restart after it.
        t = stopwatch.now();
    });
    if let Err(e) = result {
        defmt::warn!("layer timing failed: {}", e);
    }
}

/// Logs the section sizes from the linker symbols and the stack high-water mark.
pub fn log_memory() {
    let m = stack::memory();
    defmt::info!(
        "memory text={=usize} rodata={=usize} data={=usize} bss={=usize} stack_hwm={=usize} stack_size={=usize}",
        m.text,
        m.rodata,
        m.data,
        m.bss,
        m.stack_high_water,
        m.stack_size
    );
}

/// The DWT cycle counter (32 bits: 67 s at 64 MHz), for the boards: SysTick's 24 bits
/// wrap after 262 ms at 64 MHz, shorter than a capture. (It does not count in QEMU.)
#[derive(Debug)]
pub struct DwtStopwatch {
    cycles_per_ms: u32,
}

impl DwtStopwatch {
    /// Starts the cycle counter; `core_hz` is the core clock (64 MHz on the nRF52840).
    pub fn start(
        dcb: &mut cortex_m::peripheral::DCB,
        dwt: &mut cortex_m::peripheral::DWT,
        core_hz: u32,
    ) -> Self {
        dcb.enable_trace();
        dwt.enable_cycle_counter();
        Self {
            cycles_per_ms: (core_hz / 1000).max(1),
        }
    }

    /// Cycles as whole milliseconds.
    pub fn ms(&self, cycles: u32) -> u32 {
        cycles / self.cycles_per_ms
    }
}

impl Stopwatch for DwtStopwatch {
    fn now(&mut self) -> u32 {
        cortex_m::peripheral::DWT::cycle_count()
    }

    fn since(&mut self, start: u32) -> u32 {
        Self::now(self).wrapping_sub(start)
    }
}

/// The link's verdict for a frame the camera failed to deliver.
const CAMERA_FAULT: crate::link::Verdict<'static> = crate::link::Verdict::Failed {
    reason: "camera-fault",
};

/// What a board does with one live frame.
#[derive(Debug)]
pub struct LiveFrame<'m> {
    /// The line for the serial port.
    pub line: Line,
    /// What the model said, for the serial link's answer ([`crate::link::reply`]).
    pub verdict: crate::link::Verdict<'m>,
    /// `Some(true)` for a garment, `Some(false)` for none or a failed frame, `None`
    /// when the camera failed (retry).
    pub garment: Option<bool>,
}

/// Captures one frame from `camera` (timed), then preprocesses, classifies and draws
/// it (timed) and returns the line to print; a camera fault is a line too
/// ([`live::fault_line`]), never a stop. Everything is logged with defmt as well.
pub fn live_frame<'m, S, D>(
    model: &Model<'m>,
    index: u32,
    camera: &mut S,
    screen: &mut D,
    stopwatch: &mut DwtStopwatch,
    scratch: &mut [i8],
    input: &mut [u8; PIXELS],
) -> Result<LiveFrame<'m>, D::Error>
where
    S: FrameSource<Error = ov767x::Error>,
    D: DrawTarget<Color = Gray8>,
{
    let t = stopwatch.now();
    let captured = camera.next_frame();
    let capture = stopwatch.since(t);
    let captured = match captured {
        Ok(Some(c)) => c,
        Ok(None) => {
            let line = live::fault_line(index, &ov767x::Error::NoFrame);
            defmt::warn!("{=str}", line.as_str());
            return Ok(LiveFrame {
                line,
                verdict: CAMERA_FAULT,
                garment: None,
            });
        }
        Err(e) => {
            let line = live::fault_line(index, &e);
            defmt::warn!("camera fault frame={=u32}: {}", index, e);
            return Ok(LiveFrame {
                line,
                verdict: CAMERA_FAULT,
                garment: None,
            });
        }
    };
    let outcome = pipeline::process(
        model,
        index as usize,
        &captured,
        &Config::default(),
        input,
        scratch,
        screen,
        stopwatch,
    )?;
    let line = live::answer_line(
        index,
        &outcome,
        stopwatch.ms(capture),
        stopwatch.ms(outcome.timing.classify),
    );
    defmt::info!(
        "{=str} preprocess={=u32} classify={=u32} draw={=u32} unit=cycles",
        line.as_str(),
        outcome.timing.preprocess,
        outcome.timing.classify,
        outcome.timing.draw
    );
    Ok(LiveFrame {
        line,
        verdict: crate::link::verdict(&outcome),
        garment: Some(live::garment(&outcome)),
    })
}
