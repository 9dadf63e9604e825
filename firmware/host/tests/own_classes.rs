//! A model of three classes of one's own (not Fashion-MNIST's ten), exported by the
//! trainer, through the board pipeline on the host: the sample frames → preprocess →
//! classify → the board's line and the screen, with the model's names.
//!
//! `tests/fixtures/own-classes.fmq` is the export of `trainer/tests/own_garments.rs`
//! (`classes_of_ones_own_...`: `c8,p,f,d3` fine-tuned with `--own-classes` on a generated
//! folder set), written there by `TRAINER_WRITE_OWN_CLASSES_FIXTURE=$PWD/firmware/host/tests/fixtures/own-classes.fmq
//! cargo test -p trainer --test own_garments classes_of_ones_own`.

use fw_common::display::Framebuffer;
use fw_common::frames::{FlashFrames, FrameSet, FrameSource};
use fw_common::live;
use infer_core::Model;

mod common;
use common::{frames_blob, process, root};

/// The fixture's class names, in label order; the last is 20 bytes, the longest a class
/// of one's own may have (`trainer_core::data::folders::MAX_NAME_BYTES`).
const NAMES: [&str; 3] = ["boots", "Hat", "my shirt, the blue 1"];

#[test]
fn a_three_class_model_names_its_own_classes_on_the_line_and_the_screen() {
    let bytes = std::fs::read(root().join("firmware/host/tests/fixtures/own-classes.fmq")).unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    assert_eq!(model.class_names().collect::<Vec<_>>(), NAMES);
    let blob = frames_blob();
    let mut flash = FlashFrames::new(FrameSet::parse(&blob).unwrap());
    let mut scratch = vec![0i8; model.scratch_len()];
    let mut input = [0u8; 784];
    let mut seen = [0usize; 3];
    let mut index = 0;
    while let Some(frame) = flash.next_frame().unwrap() {
        // The sample frames carry Fashion-MNIST labels (up to 9), beyond this model's
        // classes: the screen's "true:" line shows "?" for them.
        let mut screen = Framebuffer::new();
        let o = process(&model, index, &frame, &mut input, &mut scratch, &mut screen);
        if let Ok((_, p)) = &o.result {
            assert_eq!(p.scores.len(), 3);
            assert_eq!(p.name, NAMES[p.class]);
            seen[p.class] += 1;
            let line = live::answer_line(index as u32, &o, 4_294_967_295, 4_294_967_295);
            assert!(
                line.as_str()
                    .starts_with(&format!("frame {index}: {} ", NAMES[p.class])),
                "{line}"
            );
            assert!(line.ends_with("classify 4294967295 ms)"), "cut: {line}");
        }
        index += 1;
    }
    assert_eq!(index, 10);
    assert!(seen.iter().sum::<usize>() >= 8, "{seen:?}");
}
