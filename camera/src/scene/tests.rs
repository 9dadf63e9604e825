//! Unit and property tests of the preprocessing.

use super::*;
use crate::preprocess::rect;
use crate::preprocess::{QQVGA_HEIGHT, QQVGA_WIDTH};
use proptest::prelude::*;
use std::vec;
use std::vec::Vec;

/// A `w`x`h` frame of level `bg` with the rectangle `(x, y, rw, rh)` at level `ink`.
fn frame_with_rect(
    w: usize,
    h: usize,
    bg: u8,
    ink: u8,
    r: (usize, usize, usize, usize),
) -> Vec<u8> {
    let mut px = vec![bg; w * h];
    for y in r.1..r.1 + r.3 {
        for x in r.0..r.0 + r.2 {
            px[y * w + x] = ink;
        }
    }
    px
}

/// Asserts that `frame` preprocessed in the forced style `mode` has no contrast
/// against its `background`.
fn assert_no_contrast_as(mode: Mode, frame: &Frame<'_>, background: u8) {
    let forced = Config {
        mode: Some(mode),
        ..Config::default()
    };
    let mut out = [0u8; PIXELS];
    assert_eq!(
        preprocess_scene(frame, &forced, &mut out),
        Err(Error::NoContrast { background, mode })
    );
}

#[test]
fn blank_and_dark_frames_are_errors_with_zero_output() {
    let blank = vec![200u8; QQVGA_WIDTH * QQVGA_HEIGHT];
    let frame = Frame::new(&blank, QQVGA_WIDTH, QQVGA_HEIGHT).unwrap();
    let mut out = [7u8; PIXELS];
    assert_eq!(
        preprocess_scene(&frame, &Config::default(), &mut out),
        Err(Error::NoObject {
            background: 255,
            threshold: 215,
            mode: Mode::Photo,
        })
    );
    assert!(out.iter().all(|&p| p == 0));

    let dark = vec![20u8; 100];
    let frame = Frame::new(&dark, 10, 10).unwrap();
    let e = preprocess_scene(&frame, &Config::default(), &mut out).unwrap_err();
    assert_eq!(
        e,
        Error::NoObject {
            background: 20,
            threshold: 60,
            mode: Mode::Dataset,
        }
    );
    assert!(e.nothing_there());
    assert!(!Error::Empty.nothing_there());
}

/// A dataset-like 28x28 image: a light "shirt" (body and sleeves) on black, with
/// faint edges, touching the top and bottom.
fn dataset_image() -> [u8; PIXELS] {
    let mut img = [0u8; PIXELS];
    for y in 0..SIDE {
        for x in 0..SIDE {
            let body = (7..21).contains(&x);
            let sleeves = y < 12 && (2..26).contains(&x);
            if body || sleeves {
                img[y * SIDE + x] = 120 + ((x * 5 + y * 3) % 120) as u8;
            } else if (5..23).contains(&x) {
                img[y * SIDE + x] = 12;
            }
        }
    }
    // Like every Fashion-MNIST image, it reaches 255.
    img[14 * SIDE + 14] = 255;
    img
}

#[test]
fn dataset_style_images_pass_unchanged_at_any_whole_scale() {
    let img = dataset_image();
    let frame = Frame::new(&img, SIDE, SIDE).unwrap();
    assert_eq!(decide_scene_mode(&frame, &Config::default()), Mode::Dataset);
    let mut out = [0u8; PIXELS];
    let d = preprocess_scene(&frame, &Config::default(), &mut out).unwrap();
    assert_eq!(d.mode, Mode::Dataset);
    assert_eq!(d.background, 0);
    assert_eq!(d.threshold, 40);
    assert_eq!(
        d.crop,
        Rect {
            left: 0,
            top: 0,
            width: 28,
            height: 28
        }
    );
    assert_eq!(out, img);
    // Enlarged 4x by repetition: the area resize gives the image back exactly.
    let big: Vec<u8> = (0..112 * 112)
        .map(|i| img[(i / 112 / 4) * SIDE + (i % 112) / 4])
        .collect();
    let frame = Frame::new(&big, 112, 112).unwrap();
    let mut out = [0u8; PIXELS];
    let d = preprocess_scene(&frame, &Config::default(), &mut out).unwrap();
    assert_eq!(d.mode, Mode::Dataset);
    assert_eq!(out, img);
    // A non-square picture is padded with the background, centred.
    let wide: Vec<u8> = (0..28 * 56)
        .map(|i| {
            let (x, y) = (i % 56, i / 56);
            if (14..42).contains(&x) {
                img[y * SIDE + (x - 14)]
            } else {
                0
            }
        })
        .collect();
    let frame = Frame::new(&wide, 56, 28).unwrap();
    let d = preprocess_scene(&frame, &Config::default(), &mut out).unwrap();
    assert_eq!(
        d.crop,
        Rect {
            left: 0,
            top: -14,
            width: 56,
            height: 56
        }
    );
    assert!(out[..7 * SIDE].iter().all(|&p| p == 0), "padding on top");
}

#[test]
fn a_thin_garment_gets_the_same_style_wherever_it_lies() {
    // A dark line one pixel wide on a background just below mid-gray. When the
    // decision counted every second column, the line at an odd column was not seen
    // at all: a tie, which a background below 128 gave to the dataset style, and the
    // line was "nothing there"; at an even column it was a photo and found.
    // (proptest's regression: a 1x2 rectangle at x = 22 and x = 53 on background
    // 120 answered NoObject in two different styles.)
    for bg in [120u8, 127] {
        let answers: Vec<_> = [22usize, 53]
            .into_iter()
            .map(|x| {
                let px = frame_with_rect(160, 120, bg, bg - 100, (x, 30, 1, 60));
                let frame = Frame::new(&px, 160, 120).unwrap();
                let mut out = [0u8; PIXELS];
                let d = preprocess_scene(&frame, &Config::default(), &mut out);
                (
                    decide_scene_mode(&frame, &Config::default()),
                    d.map(|d| d.crop.width),
                    out,
                )
            })
            .collect();
        assert_eq!(answers[0].0, Mode::Photo);
        assert_eq!(answers[0], answers[1]);
    }
}

#[test]
fn the_style_follows_the_picture_and_can_be_forced() {
    let img = dataset_image();
    // Inverted: a dark garment on white, the product-photo style.
    let inverted: Vec<u8> = img.iter().map(|&p| 255 - p).collect();
    let frame = Frame::new(&inverted, SIDE, SIDE).unwrap();
    assert_eq!(decide_scene_mode(&frame, &Config::default()), Mode::Photo);
    // On mid-gray, a scene, the garment lighter or darker: found either way, and the
    // same input from the same contrast.
    let mut outs = Vec::new();
    for ink in [230u8, 30] {
        let px = frame_with_rect(80, 60, 130, ink, (20, 12, 20, 30));
        let frame = Frame::new(&px, 80, 60).unwrap();
        assert_eq!(
            decide_scene_mode(&frame, &Config::default()),
            Mode::Photo,
            "{ink}"
        );
        let mut out = [0u8; PIXELS];
        let d = preprocess_scene(&frame, &Config::default(), &mut out).unwrap();
        assert_eq!(d.object, rect(20, 12, 39, 41), "{ink}");
        outs.push(out);
    }
    assert_eq!(outs[0], outs[1]);
    // A small light garment on a dark frame is a scene too: the dataset style needs
    // the garment to fill the picture.
    let px = frame_with_rect(160, 120, 20, 200, (30, 30, 30, 40));
    let frame = Frame::new(&px, 160, 120).unwrap();
    assert_eq!(decide_scene_mode(&frame, &Config::default()), Mode::Photo);
    // Forced: a white frame cannot hold a light garment.
    let white = vec![250u8; 100];
    let frame = Frame::new(&white, 10, 10).unwrap();
    assert_no_contrast_as(Mode::Dataset, &frame, 250);
}

#[test]
#[ignore = "known failure of the scene path: a ramp from black to white across the frame (0 to 255 in 80 pixels, horizontal or vertical) is taken for a garment (see docs/photos.md)"]
fn frames_without_a_garment_are_nothing_there() {
    let mut state = 7u64;
    let mut noise = move |amp: i32| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) % (2 * amp as u64 + 1)) as i32 - amp
    };
    let (w, h) = (80usize, 60usize);
    let mut frames: Vec<Vec<u8>> = Vec::new();
    for level in (0..=255).step_by(15) {
        frames.push(vec![level as u8; w * h]);
        // Low-contrast noise around the level.
        frames.push(
            (0..w * h)
                .map(|_| (level + noise(12)).clamp(0, 255) as u8)
                .collect(),
        );
    }
    for (a, b) in [(0, 255), (255, 0), (100, 200), (180, 230)] {
        // Horizontal, vertical and diagonal ramps.
        for dir in 0..3 {
            frames.push(
                (0..w * h)
                    .map(|i| {
                        let (x, y) = ((i % w) as i32, (i / w) as i32);
                        let t = match dir {
                            0 => x * 255 / (w as i32 - 1),
                            1 => y * 255 / (h as i32 - 1),
                            _ => (x + y) * 255 / (w as i32 + h as i32 - 2),
                        };
                        (a + (b - a) * t / 255) as u8
                    })
                    .collect(),
            );
        }
    }
    // Specks: a few pixels on a plain background.
    for (bg, ink) in [(220u8, 10u8), (10, 240)] {
        frames.push(frame_with_rect(w, h, bg, ink, (30, 20, 3, 3)));
        frames.push(frame_with_rect(w, h, bg, ink, (70, 50, 5, 2)));
    }
    let mut found = Vec::new();
    for (k, px) in frames.iter().enumerate() {
        let frame = Frame::new(px, w, h).unwrap();
        let mut out = [1u8; PIXELS];
        match preprocess_scene(&frame, &Config::default(), &mut out) {
            Ok(_) => found.push(k),
            Err(e) => assert!(e.nothing_there(), "{e}"),
        }
        assert!(found.contains(&k) || out.iter().all(|&p| p == 0));
    }
    assert!(
        found.is_empty(),
        "a garment found in frames {found:?} of {}",
        frames.len()
    );
}

#[test]
fn finds_a_rectangle_exactly() {
    let px = frame_with_rect(160, 120, 210, 30, (97, 20, 40, 84));
    let frame = Frame::new(&px, 160, 120).unwrap();
    let mut out = [0u8; PIXELS];
    let d = preprocess_scene(&frame, &Config::default(), &mut out).unwrap();
    // In the contrast view: background 255, the box followed down to 40 levels.
    assert_eq!(d.background, 255);
    assert_eq!(d.threshold, 215);
    let object = Rect {
        left: 97,
        top: 20,
        width: 40,
        height: 84,
    };
    assert_eq!(d.object, object);
    // 84 - 40 = 44 columns of background, 22 on each side.
    let crop = Rect {
        left: 75,
        top: 20,
        width: 84,
        height: 84,
    };
    assert_eq!(d.crop, crop);
    // 40/84*28 = 13.33 output columns are ink: columns 7 and 20 are partly covered.
    // Hand-computed: column 7 covers source x 21..24 of the crop, ink from 22, so
    // 2/3 ink; darkness 180*2/3 = 120, minus the floor 20 = 100, scaled by 255/160.
    for row in out.chunks_exact(SIDE) {
        assert_eq!(&row[..7], &[0; 7]);
        assert_eq!(row[7], 159);
        assert_eq!(&row[8..20], &[255; 12]);
        assert_eq!(row[20], 159);
        assert_eq!(&row[21..], &[0; 7]);
    }
}

#[test]
fn a_lone_dark_pixel_is_no_object_but_a_small_square_fills_the_input() {
    let config = Config {
        min_run: 1,
        ..Config::default()
    };
    let mut out = [0u8; PIXELS];
    // Hand-computed: one black pixel on a 6x6 white frame passes the threshold
    // (255 - 40 = 215), but the mean of its 3x3 neighbourhood, 8 * 255 / 9 = 227,
    // does not: nothing there.
    let mut px = [255u8; 36];
    px[2 * 6 + 3] = 0;
    let frame = Frame::new(&px, 6, 6).unwrap();
    assert_eq!(
        preprocess_scene(&frame, &config, &mut out),
        Err(Error::NoObject {
            background: 255,
            threshold: 215,
            mode: Mode::Photo
        })
    );
    // A black 12x12 square on a 40x40 white frame: the box is the square, the crop
    // 12x12, and every output pixel full darkness -> 255 everywhere.
    let px = frame_with_rect(40, 40, 255, 0, (14, 10, 12, 12));
    let frame = Frame::new(&px, 40, 40).unwrap();
    let d = preprocess_scene(&frame, &config, &mut out).unwrap();
    assert_eq!(
        d.crop,
        Rect {
            left: 14,
            top: 10,
            width: 12,
            height: 12
        }
    );
    assert!(out.iter().all(|&p| p == 255));
}

#[test]
fn isolated_noise_pixels_do_not_move_the_box() {
    let mut px = frame_with_rect(160, 120, 200, 40, (10, 30, 50, 50));
    px[3 * 160 + 150] = 0; // a hot pixel far away
    px[110 * 160 + 2] = 0;
    px[100 * 160 + 5] = 0; // two dead pixels in one row, not adjacent
    px[100 * 160 + 140] = 10;
    let frame = Frame::new(&px, 160, 120).unwrap();
    let mut out = [0u8; PIXELS];
    let d = preprocess_scene(&frame, &Config::default(), &mut out).unwrap();
    assert_eq!(
        d.object,
        Rect {
            left: 10,
            top: 30,
            width: 50,
            height: 50
        }
    );
    // A 50x50 solid square fills the whole input.
    assert!(out.iter().all(|&p| p == 255));
}

/// The object box that `preprocess` finds in a 160x120 frame (default configuration).
fn object_in(px: &[u8]) -> Rect {
    let mut out = [0u8; PIXELS];
    let frame = Frame::new(px, 160, 120).unwrap();
    preprocess_scene(&frame, &Config::default(), &mut out)
        .unwrap()
        .object
}

/// A 160x120 frame lit `level` at the centre and `falloff` levels less at the
/// corners, growing with the squared distance from the centre (vignetting).
fn vignetted(level: i32, falloff: i32) -> Vec<u8> {
    let radius2 = |x: i32, y: i32| (2 * x - 159).pow(2) + (2 * y - 119).pow(2);
    let corner = radius2(0, 0);
    (0..160 * 120)
        .map(|i| {
            let r2 = radius2(i % 160, i / 160);
            (level - falloff * r2 / corner) as u8
        })
        .collect()
}

#[test]
fn vignetting_is_corrected_and_a_gradient_is_not_taken_for_it() {
    // A blank wall through a lens that loses 80 levels at the corners. Without the
    // correction its light centre stood out from the ring's median: a "dataset-style
    // garment".
    let px = vignetted(230, 80);
    let frame = Frame::new(&px, 160, 120).unwrap();
    assert_eq!(decide_scene_mode(&frame, &Config::default()), Mode::Photo);
    let mut out = [0u8; PIXELS];
    let e = preprocess_scene(&frame, &Config::default(), &mut out).unwrap_err();
    assert!(e.nothing_there(), "{e}");
    // The same wall with a garment near a corner: found exactly.
    let mut px = px;
    for y in 10..60 {
        for x in 12..52 {
            px[y * 160 + x] /= 4;
        }
    }
    assert_eq!(object_in(&px), rect(12, 10, 51, 59));
    // A blank linear ramp, whatever its direction, is background too.
    for (gx, gy) in [(1, 0), (0, 1), (1, 1), (-1, 1)] {
        let ramp: Vec<u8> = (0..160 * 120i32)
            .map(|i| {
                let (x, y) = (i % 160, i / 160);
                (128 + gx * (2 * x - 159) / 4 + gy * (2 * y - 119) / 2) as u8
            })
            .collect();
        let frame = Frame::new(&ramp, 160, 120).unwrap();
        let e = preprocess_scene(&frame, &Config::default(), &mut out).unwrap_err();
        assert!(e.nothing_there(), "{gx} {gy}: {e}");
    }
}

#[test]
fn a_smeared_dead_pixel_does_not_stretch_the_box() {
    // A dead pixel after JPEG: 100 levels dark, its four neighbours 50. A row of it
    // is a run of three pixels below the threshold (200 - 40), but the mean of its
    // 3x3 neighbourhood is only (100 + 4 * 50) / 9 = 33 levels dark.
    let mut px = frame_with_rect(160, 120, 200, 40, (60, 30, 50, 60));
    let (x, y) = (140, 100);
    px[y * 160 + x] = 100;
    for (dx, dy) in [(-1i32, 0i32), (1, 0), (0, -1), (0, 1)] {
        px[(y as i32 + dy) as usize * 160 + (x as i32 + dx) as usize] = 150;
    }
    assert_eq!(object_in(&px), rect(60, 30, 109, 89));
}

#[test]
fn a_garment_the_flood_left_out_is_found_nearer_than_the_detection_distance() {
    // On a plain background (no noise: the detection distance is `min_contrast`, 40),
    // a garment 37 levels dark is left out by the flood (its step is 8) and found in
    // its region at seven eighths of the distance (35); one 30 levels dark is not.
    let config = Config::default();
    assert_eq!(config.min_contrast, 40);
    let mut out = [0u8; PIXELS];
    let px = frame_with_rect(160, 120, 200, 163, (40, 20, 50, 60));
    let frame = Frame::new(&px, 160, 120).unwrap();
    let d = preprocess_scene(&frame, &config, &mut out).unwrap();
    assert_eq!(d.object, rect(40, 20, 89, 79));
    let px = frame_with_rect(160, 120, 200, 170, (40, 20, 50, 60));
    let frame = Frame::new(&px, 160, 120).unwrap();
    let e = preprocess_scene(&frame, &config, &mut out).unwrap_err();
    assert!(e.nothing_there(), "{e:?}");
}

/// A dim scene: a 160x120 surface of level `surface`, its 2-pixel border ring
/// cycling 6 and 2 levels below and above it (not the dataset's flat black), with a
/// garment of level `garment` at (40, 20), 50x60.
fn dim_scene(surface: u8, garment: u8) -> Vec<u8> {
    let mut px = frame_with_rect(160, 120, surface, garment, (40, 20, 50, 60));
    for y in 0..120 {
        for x in 0..160 {
            if !(2..158).contains(&x) || !(2..118).contains(&y) {
                px[y * 160 + x] = surface - 6 + 4 * ((x + y) % 4) as u8;
            }
        }
    }
    px
}

#[test]
fn in_a_dim_scene_the_detection_floor_follows_the_light() {
    // A garment on a surface of 70 departs 27 levels: under the floor of 40 (35 in the
    // garment's region) that holds in a lit scene, above the dim scene's 40 * 70 / 100
    // = 28 (24 in the region): found. On a surface of 50 one departing 14 levels stays
    // under the floor of 20 (17 in the region): nothing there.
    let config = Config::default();
    let mut out = [0u8; PIXELS];
    let px = dim_scene(70, 43);
    let frame = Frame::new(&px, 160, 120).unwrap();
    let d = preprocess_scene(&frame, &config, &mut out).unwrap();
    assert_eq!((d.mode, d.object), (Mode::Photo, rect(40, 20, 89, 79)));
    let px = dim_scene(50, 36);
    let frame = Frame::new(&px, 160, 120).unwrap();
    let e = preprocess_scene(&frame, &config, &mut out).unwrap_err();
    assert!(e.nothing_there(), "{e:?}");
}

#[test]
fn a_faint_garment_keeps_its_light_parts() {
    // 60 levels dark at most, with a part only 25 levels dark below it: the
    // detection (40 levels) finds the dark part; the box then follows the contrast
    // down to 60 / 4 -> 20 levels (half the distance) and takes in the light part.
    let mut px = frame_with_rect(160, 120, 200, 140, (40, 20, 50, 60));
    for y in 80..95 {
        for x in 40..90 {
            px[y * 160 + x] = 175;
        }
    }
    let frame = Frame::new(&px, 160, 120).unwrap();
    let mut out = [0u8; PIXELS];
    let d = preprocess_scene(&frame, &Config::default(), &mut out).unwrap();
    assert_eq!(d.threshold, 235);
    assert_eq!(
        d.object,
        Rect {
            left: 40,
            top: 20,
            width: 50,
            height: 75
        }
    );
    // The light part is in the input, lighter than the rest (darkness 25 and 60,
    // less the floor of 10, scaled by 255 / 50).
    assert_eq!(out[27 * SIDE + 14], 77);
    assert_eq!(out[10 * SIDE + 14], 255);
}

#[test]
fn upscaled_dataset_image_round_trips() {
    // An image whose object touches all four edges, scaled x3 by repetition and
    // mapped to a light background, comes back within rounding.
    let mut img = [0u8; PIXELS];
    for (i, p) in img.iter_mut().enumerate() {
        let (x, y) = (i % SIDE, i / SIDE);
        *p = if x == 0 || y == 0 || x == 27 || y == 27 {
            255
        } else {
            ((x * 7 + y * 3) % 256) as u8
        };
    }
    let (bg, ink) = (220u32, 20u32);
    let mut px = vec![bg as u8; 160 * 120];
    for y in 0..84 {
        for x in 0..84 {
            let v = u32::from(img[(y / 3) * SIDE + x / 3]);
            px[(y + 17) * 160 + x + 61] = (bg - v * (bg - ink) / 255) as u8;
        }
    }
    let frame = Frame::new(&px, 160, 120).unwrap();
    let mut out = [0u8; PIXELS];
    preprocess_scene(&frame, &Config::default(), &mut out).unwrap();
    // The floor (20 levels of 200) clips the faintest values to 0; above it the
    // stretch restores them.
    for (&got, &want) in out.iter().zip(&img) {
        let want = (i32::from(want) * 200 / 255 - 20).max(0) * 255 / 180;
        assert!((i32::from(got) - want).abs() <= 2, "{got} vs {want}");
    }
}

proptest! {
    #[test]
    fn never_panics(
        w in 0usize..48,
        h in 0usize..48,
        extra in 0usize..3,
        seed in any::<u64>(),
        min_contrast in any::<u8>(),
        noise_factor in any::<u8>(),
        min_run in any::<u16>(),
        margin_percent in any::<u8>(),
    ) {
        let mut state = seed;
        let px: Vec<u8> = (0..w * h + extra)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (state >> 56) as u8
            })
            .collect();
        let mode = [None, Some(Mode::Photo), Some(Mode::Dataset)][(seed % 3) as usize];
        let config = Config {
            min_contrast,
            noise_factor,
            min_run,
            margin_percent,
            min_side_percent: (seed >> 8) as u8,
            mode,
        };
        let mut out = [0u8; PIXELS];
        match Frame::new(&px, w, h) {
            Ok(frame) => {
                prop_assert_eq!(extra, 0);
                if let Ok(d) = preprocess_scene(&frame, &config, &mut out) {
                    prop_assert!(d.object.left >= 0 && d.object.top >= 0);
                    prop_assert!(d.object.left as usize + d.object.width as usize <= w);
                    prop_assert!(d.object.top as usize + d.object.height as usize <= h);
                    prop_assert!(d.crop.width >= d.object.width.max(d.object.height));
                    if d.mode == Mode::Photo {
                        prop_assert_eq!(out.iter().max().copied(), Some(255));
                    }
                } else {
                    prop_assert!(out.iter().all(|&p| p == 0));
                }
            }
            Err(_) => prop_assert!(w == 0 || h == 0 || extra > 0),
        }
    }

    /// Moving a garment by whole cells of the background grid (4 pixels in a QQVGA
    /// frame) changes nothing, whatever its size; the style decision included.
    #[test]
    fn translation_by_whole_cells_does_not_change_the_output(
        rw in 1usize..60,
        rh in 1usize..60,
        cx1 in 1usize..=22,
        cy1 in 1usize..=12,
        cx2 in 1usize..=22,
        cy2 in 1usize..=12,
        bg in 120u8..=255,
    ) {
        let [a, b] = moved(rw, rh, [(4 * cx1, 4 * cy1), (4 * cx2, 4 * cy2)], bg);
        prop_assert_eq!(a, b);
    }

    /// Moving a garment of a few cells or more by any number of pixels changes nothing
    /// (on a plain background, where the background model is exact).
    #[test]
    fn translation_does_not_change_the_output(
        rw in 16usize..60,
        rh in 16usize..60,
        x1 in 3usize..90,
        y1 in 3usize..50,
        x2 in 3usize..90,
        y2 in 3usize..50,
        bg in 120u8..=255,
    ) {
        let [a, b] = moved(rw, rh, [(x1, y1), (x2, y2)], bg);
        prop_assert_eq!(a, b);
    }
}

/// A `rw`x`rh` "garment" (a rectangle 100 levels darker than `bg`, with a notch so the
/// output is not uniform) at each of two places in a 160x120 frame: the style, the
/// crop's side (or the error) and the output.
fn moved(
    rw: usize,
    rh: usize,
    at: [(usize, usize); 2],
    bg: u8,
) -> [(Mode, Result<u32, Error>, [u8; PIXELS]); 2] {
    at.map(|(x0, y0)| {
        let mut px = frame_with_rect(160, 120, bg, bg - 100, (x0, y0, rw, rh));
        px[y0 * 160 + x0] = bg.saturating_sub(60);
        let frame = Frame::new(&px, 160, 120).unwrap();
        let mut out = [0u8; PIXELS];
        let d = preprocess_scene(&frame, &Config::default(), &mut out);
        (
            decide_scene_mode(&frame, &Config::default()),
            d.map(|d| d.crop.width),
            out,
        )
    })
}
