//! Drawing a classified frame with embedded-graphics.
//!
//! The screen is 160x128 (the size of the common ST7735 1.8" TFT), grayscale:
//! ```text
//! +----------------------+-------------------+
//! | camera frame, 1:2    |  model input 2:1  |   y 0..60 / 2..58
//! | (80x60) + crop box   |  (56x56)          |
//! +----------------------+-------------------+
//! | true: <label>                            |   y 64
//! | seen: <class name>                       |   y 74
//! | #<frame> score <s> <confidence>% <mode>  |   y 84  (or "#<frame> no garment found")
//! | ▮ ▮ ▮ ▮ ▮ ▮ ▮ ▮ ▮ ▮  int8 scores as bars  |   y 96..128
//! +------------------------------------------+
//! ```
//! Everything draws onto any `DrawTarget<Color = Gray8>`; [`Framebuffer`] is the
//! in-memory one used in QEMU; [`GrayOnRgb565`] puts the same drawing on a colour panel
//! (the nRF52840-DK's ST7735 through `mipidsi`).

use core::convert::Infallible;
use core::fmt::Write as _;

use camera::{Detection, Frame, Mode};
use embedded_graphics::mono_font::{MonoTextStyle, ascii::FONT_6X10};
use embedded_graphics::pixelcolor::{Gray8, GrayColor, Rgb565};
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{PrimitiveStyle, Rectangle};
use embedded_graphics::text::{Baseline, Text};
use infer_core::{IMAGE_LEN as PIXELS, IMAGE_SIDE as SIDE};

/// Screen width in pixels.
pub const WIDTH: usize = 160;
/// Screen height in pixels.
pub const HEIGHT: usize = 128;
/// Where the camera thumbnail goes and how much it is subsampled.
const THUMB_ORIGIN: Point = Point::new(0, 0);
const THUMB_STEP: usize = 2;
/// Where the 28x28 model input goes and how much it is enlarged.
const INPUT_ORIGIN: Point = Point::new(94, 2);
const INPUT_SCALE: u32 = 2;
/// The score bars' area.
const BARS: Rectangle = Rectangle::new(Point::new(0, 96), Size::new(160, 32));

/// A 160x128 grayscale framebuffer in RAM.
#[derive(Clone)]
pub struct Framebuffer {
    pixels: [u8; WIDTH * HEIGHT],
}

impl core::fmt::Debug for Framebuffer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Framebuffer")
            .field("checksum", &self.checksum())
            .finish()
    }
}

impl Default for Framebuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl Framebuffer {
    /// A black screen.
    pub const fn new() -> Self {
        Self {
            pixels: [0; WIDTH * HEIGHT],
        }
    }

    /// The pixels, row-major, `WIDTH * HEIGHT` bytes.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// CRC-32 of the pixels: a compact fingerprint to compare host and target.
    pub fn checksum(&self) -> u32 {
        infer_core::crc32(&self.pixels)
    }
}

impl OriginDimensions for Framebuffer {
    fn size(&self) -> Size {
        Size::new(WIDTH as u32, HEIGHT as u32)
    }
}

impl DrawTarget for Framebuffer {
    type Color = Gray8;
    type Error = Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        for Pixel(p, c) in pixels {
            if let (Ok(x), Ok(y)) = (usize::try_from(p.x), usize::try_from(p.y))
                && x < WIDTH
                && y < HEIGHT
            {
                self.pixels[y * WIDTH + x] = c.luma();
            }
        }
        Ok(())
    }

    fn fill_contiguous<I>(&mut self, area: &Rectangle, colors: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Self::Color>,
    {
        // Row by row into the buffer when the area is on screen; else pixel by pixel.
        let screen = self.bounding_box();
        if screen.intersection(area) != *area || area.is_zero_sized() {
            return self.draw_iter(
                area.points()
                    .zip(colors)
                    .map(|(pos, color)| Pixel(pos, color)),
            );
        }
        let (x, y) = (area.top_left.x as usize, area.top_left.y as usize);
        let w = area.size.width as usize;
        let mut colors = colors.into_iter();
        for row in self
            .pixels
            .chunks_exact_mut(WIDTH)
            .skip(y)
            .take(area.size.height as usize)
        {
            for (p, c) in row[x..x + w].iter_mut().zip(colors.by_ref()) {
                *p = c.luma();
            }
        }
        Ok(())
    }

    fn fill_solid(&mut self, area: &Rectangle, color: Self::Color) -> Result<(), Self::Error> {
        let area = area.intersection(&self.bounding_box());
        if area.is_zero_sized() {
            return Ok(());
        }
        let (x, y) = (area.top_left.x as usize, area.top_left.y as usize);
        let w = area.size.width as usize;
        for row in self
            .pixels
            .chunks_exact_mut(WIDTH)
            .skip(y)
            .take(area.size.height as usize)
        {
            row[x..x + w].fill(color.luma());
        }
        Ok(())
    }

    fn clear(&mut self, color: Self::Color) -> Result<(), Self::Error> {
        self.pixels.fill(color.luma());
        Ok(())
    }
}

/// A 160x128 screen that shows nothing (a board without a display: the Nano 33 BLE).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDisplay;

impl OriginDimensions for NoDisplay {
    fn size(&self) -> Size {
        Size::new(WIDTH as u32, HEIGHT as u32)
    }
}

impl DrawTarget for NoDisplay {
    type Color = Gray8;
    type Error = Infallible;

    fn draw_iter<I>(&mut self, _pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        Ok(())
    }
}

/// The gray level `g` in a colour panel's RGB565: 5, 6 and 5 most significant bits.
pub fn gray_to_rgb565(g: Gray8) -> Rgb565 {
    let l = g.luma();
    Rgb565::new(l >> 3, l >> 2, l >> 3)
}

/// A grayscale [`DrawTarget`] over a colour panel's (an ST7735 or ST7789 through
/// `mipidsi`): every pixel converted with [`gray_to_rgb565`], every fill kept a fill
/// (so the panel gets whole windows, not single pixels).
#[derive(Debug)]
pub struct GrayOnRgb565<D> {
    panel: D,
}

impl<D> GrayOnRgb565<D> {
    /// Draws onto `panel`.
    pub fn new(panel: D) -> Self {
        Self { panel }
    }

    /// The panel.
    pub fn panel_mut(&mut self) -> &mut D {
        &mut self.panel
    }

    /// Gives the panel back.
    pub fn into_inner(self) -> D {
        self.panel
    }
}

impl<D: Dimensions> Dimensions for GrayOnRgb565<D> {
    fn bounding_box(&self) -> Rectangle {
        self.panel.bounding_box()
    }
}

impl<D: DrawTarget<Color = Rgb565>> DrawTarget for GrayOnRgb565<D> {
    type Color = Gray8;
    type Error = D::Error;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        self.panel.draw_iter(
            pixels
                .into_iter()
                .map(|Pixel(p, c)| Pixel(p, gray_to_rgb565(c))),
        )
    }

    fn fill_contiguous<I>(&mut self, area: &Rectangle, colors: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Self::Color>,
    {
        self.panel
            .fill_contiguous(area, colors.into_iter().map(gray_to_rgb565))
    }

    fn fill_solid(&mut self, area: &Rectangle, color: Self::Color) -> Result<(), Self::Error> {
        self.panel.fill_solid(area, gray_to_rgb565(color))
    }

    fn clear(&mut self, color: Self::Color) -> Result<(), Self::Error> {
        self.panel.clear(gray_to_rgb565(color))
    }
}

/// The ST7735 1.8" 128x160 panel the nRF52840-DK app drives, turned to 160x128
/// landscape (the screen's size), configured as the app and the host test use it; add
/// `.reset_pin(..)` and call `.init(&mut delay)`. A panel with other colours or an
/// offset needs `.color_order(..)`, `.invert_colors(..)` or `.display_offset(..)`.
pub fn st7735<DI>(di: DI) -> mipidsi::Builder<DI, mipidsi::models::ST7735s, mipidsi::NoResetPin>
where
    DI: mipidsi::interface::Interface,
    Rgb565: mipidsi::interface::InterfacePixelFormat<DI::Word>,
{
    use mipidsi::options::{Orientation, Rotation};
    mipidsi::Builder::new(mipidsi::models::ST7735s, di)
        .display_size(128, 160)
        .orientation(Orientation::new().rotate(Rotation::Deg90))
}

/// Draws a `width`-wide grayscale image taking every `step`-th pixel in both
/// directions and enlarging each by `scale`.
pub fn draw_gray<D>(
    target: &mut D,
    origin: Point,
    pixels: &[u8],
    width: usize,
    step: usize,
    scale: u32,
) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Gray8>,
{
    let (step, scale) = (step.max(1), scale.max(1) as usize);
    let height = pixels.len().checked_div(width).unwrap_or(0);
    let (w, h) = (width.div_ceil(step) * scale, height.div_ceil(step) * scale);
    let area = Rectangle::new(origin, Size::new(w as u32, h as u32));
    let colors = (0..h).flat_map(|y| {
        (0..w).map(move |x| {
            let (sx, sy) = (x / scale * step, y / scale * step);
            Gray8::new(pixels.get(sy * width + sx).copied().unwrap_or(0))
        })
    });
    target.fill_contiguous(&area, colors)
}

/// Draws one bar per score in `area`: height proportional to `score + 128`, the
/// `highlight`ed one white, the others gray.
pub fn draw_scores<D>(
    target: &mut D,
    area: Rectangle,
    scores: &[i8],
    highlight: Option<usize>,
) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Gray8>,
{
    let n = scores.len().max(1) as u32;
    let slot = area.size.width / n;
    let bar_width = slot.saturating_sub(2).max(1);
    for (i, &s) in scores.iter().enumerate() {
        let full = area.size.height;
        let height = (i32::from(s) + 128) as u32 * full / 255;
        let top_left = area.top_left + Point::new((i as u32 * slot) as i32, (full - height) as i32);
        let color = if Some(i) == highlight {
            Gray8::WHITE
        } else {
            Gray8::new(0x88)
        };
        Rectangle::new(top_left, Size::new(bar_width, height))
            .into_styled(PrimitiveStyle::with_fill(color))
            .draw(target)?;
    }
    Ok(())
}

/// Draws a line of white 6x10 text with its top at `top_left`.
pub fn draw_text<D>(target: &mut D, top_left: Point, text: &str) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Gray8>,
{
    let style = MonoTextStyle::new(&FONT_6X10, Gray8::WHITE);
    Text::with_baseline(text, top_left, style, Baseline::Top).draw(target)?;
    Ok(())
}

/// What to show for one frame.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// Frame number.
    pub index: usize,
    /// The picture style the frame was taken for, when known.
    pub mode: Option<Mode>,
    /// True when the frame holds no garment (shown as "no garment found").
    pub nothing_there: bool,
    /// The camera frame.
    pub frame: Frame<'a>,
    /// Where the object was found, if it was.
    pub detection: Option<Detection>,
    /// The model input (all zeros when preprocessing failed).
    pub input: &'a [u8; PIXELS],
    /// The true class's name, when known.
    pub truth: Option<&'a str>,
    /// The prediction, when there is one.
    pub prediction: Option<Shown<'a>>,
}

/// The prediction part of a [`View`].
#[derive(Debug, Clone, Copy)]
pub struct Shown<'a> {
    /// Predicted class.
    pub class: usize,
    /// Its name.
    pub name: &'a str,
    /// The int8 scores.
    pub scores: &'a [i8],
    /// Softmax probability of the predicted class, in percent.
    pub confidence_percent: u8,
}

/// Clears the screen and draws the whole [`View`].
pub fn draw_view<D>(target: &mut D, view: &View<'_>) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Gray8>,
{
    target.clear(Gray8::BLACK)?;
    let frame = &view.frame;
    draw_gray(
        target,
        THUMB_ORIGIN,
        frame.pixels(),
        frame.width(),
        THUMB_STEP,
        1,
    )?;
    if let Some(d) = view.detection {
        // The crop square, subsampled like the frame; it may reach past the thumbnail.
        let s = THUMB_STEP as i32;
        let crop = Rectangle::new(
            THUMB_ORIGIN + Point::new(d.crop.left / s, d.crop.top / s),
            Size::new(d.crop.width / s as u32, d.crop.height / s as u32),
        );
        let thumb = Rectangle::new(
            THUMB_ORIGIN,
            Size::new(
                frame.width().div_ceil(THUMB_STEP) as u32,
                frame.height().div_ceil(THUMB_STEP) as u32,
            ),
        );
        crop.into_styled(PrimitiveStyle::with_stroke(Gray8::BLACK, 1))
            .draw(&mut target.clipped(&thumb))?;
    }
    draw_gray(target, INPUT_ORIGIN, view.input, SIDE, 1, INPUT_SCALE)?;

    let mut line: heapless::String<32> = heapless::String::new();
    // A line holds 26 characters; Fashion-MNIST's class names are at most 11, and a
    // class of one's own at most 20 (`trainer_core::data::folders::MAX_NAME_BYTES`):
    // "seen: " + 20 = 26, so writes cannot fail (a longer name from some other tool would
    // leave the line at its prefix, never a panic).
    let _ = write!(line, "true: {}", view.truth.unwrap_or("?"));
    draw_text(target, Point::new(2, 64), &line)?;
    line.clear();
    match view.prediction {
        Some(p) => {
            let _ = write!(line, "seen: {}", p.name);
            draw_text(target, Point::new(2, 74), &line)?;
            line.clear();
            let score = p.scores.get(p.class).copied().unwrap_or(0);
            // At most "#65535 score -128 100% dataset": 30 characters; the line holds 32
            // and the screen shows the first 26.
            let _ = write!(
                line,
                "#{} score {} {}% {}",
                view.index,
                score,
                p.confidence_percent,
                view.mode.map_or("", Mode::name)
            );
            draw_text(target, Point::new(2, 84), &line)?;
            draw_scores(target, BARS, p.scores, Some(p.class))?;
        }
        None if view.nothing_there => {
            let _ = write!(line, "#{} no garment found", view.index);
            draw_text(target, Point::new(2, 74), &line)?;
            line.clear();
            let _ = write!(line, "read as {}", view.mode.map_or("?", Mode::name));
            draw_text(target, Point::new(2, 84), &line)?;
        }
        None => {
            let _ = write!(line, "#{} bad frame", view.index);
            draw_text(target, Point::new(2, 74), &line)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_graphics::mock_display::MockDisplay;

    #[test]
    fn gray_image_enlarged() {
        // Pattern characters are the luma's high nibble (0x11 steps).
        let img = [0x00, 0x55, 0xFF, 0x22, 0x33, 0xAA];
        let mut display = MockDisplay::<Gray8>::new();
        draw_gray(&mut display, Point::new(1, 1), &img, 3, 1, 2).unwrap();
        display.assert_pattern(&[
            "       ", //
            " 0055FF", //
            " 0055FF", //
            " 2233AA", //
            " 2233AA", //
        ]);
    }

    #[test]
    fn gray_image_subsampled() {
        let img = [
            0x11, 0x99, 0x22, 0x99, //
            0x99, 0x99, 0x99, 0x99, //
            0x33, 0x99, 0x44, 0x99, //
        ];
        let mut display = MockDisplay::<Gray8>::new();
        draw_gray(&mut display, Point::zero(), &img, 4, 2, 1).unwrap();
        display.assert_pattern(&["12", "34"]);
    }

    #[test]
    fn gray_image_of_odd_length_does_not_panic() {
        let mut display = MockDisplay::<Gray8>::new();
        draw_gray(&mut display, Point::zero(), &[1, 2, 3], 0, 0, 0).unwrap();
        draw_gray(&mut display, Point::zero(), &[0x11; 5], 2, 1, 1).unwrap();
        display.assert_pattern(&["11", "11"]);
    }

    #[test]
    fn score_bars() {
        // -128 -> empty, 127 -> full height, 0 -> 128/255 of 4 rows = 2 rows.
        let mut display = MockDisplay::<Gray8>::new();
        let area = Rectangle::new(Point::zero(), Size::new(9, 4));
        draw_scores(&mut display, area, &[-128, 127, 0], Some(1)).unwrap();
        display.assert_pattern(&[
            "   F     ", //
            "   F     ", //
            "   F  8  ", //
            "   F  8  ", //
        ]);
    }

    #[test]
    fn text_line() {
        // Golden: FONT_6X10's "T1" drawn at (0, 0), written by hand and confirmed
        // against embedded-graphics 0.8.2's output.
        let mut display = MockDisplay::<Gray8>::new();
        draw_text(&mut display, Point::zero(), "T1").unwrap();
        display.assert_pattern(&[
            "            ",
            "FFFFF   F   ",
            "  F    FF   ",
            "  F   F F   ",
            "  F     F   ",
            "  F     F   ",
            "  F     F   ",
            "  F   FFFFF ",
        ]);
    }

    /// A framebuffer that only knows `draw_iter`: the reference for the fast paths.
    struct Slow(Framebuffer);

    impl OriginDimensions for Slow {
        fn size(&self) -> Size {
            self.0.size()
        }
    }

    impl DrawTarget for Slow {
        type Color = Gray8;
        type Error = Infallible;

        fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
        where
            I: IntoIterator<Item = Pixel<Self::Color>>,
        {
            self.0.draw_iter(pixels)
        }
    }

    #[test]
    fn fast_fills_equal_pixel_by_pixel_drawing() {
        let px = frame_pixels();
        let input: [u8; PIXELS] = core::array::from_fn(|i| (i * 7) as u8);
        let view = View {
            index: 12,
            mode: Some(Mode::Photo),
            nothing_there: false,
            frame: Frame::new(&px, 160, 120).unwrap(),
            detection: Some(Detection {
                mode: Mode::Photo,
                background: 200,
                threshold: 160,
                object: camera::Rect {
                    left: 120,
                    top: 10,
                    width: 40,
                    height: 100,
                },
                // Reaches past the frame on the right.
                crop: camera::Rect {
                    left: 90,
                    top: 10,
                    width: 100,
                    height: 100,
                },
            }),
            input: &input,
            truth: None,
            prediction: None,
        };
        let (mut fast, mut slow) = (Framebuffer::new(), Slow(Framebuffer::new()));
        draw_view(&mut fast, &view).unwrap();
        draw_view(&mut slow, &view).unwrap();
        // Partly and wholly off-screen areas too.
        for area in [
            Rectangle::new(Point::new(150, 120), Size::new(20, 20)),
            Rectangle::new(Point::new(-5, -5), Size::new(10, 10)),
            Rectangle::new(Point::new(500, 5), Size::new(3, 3)),
        ] {
            let colors = (0..400u32).map(|i| Gray8::new(i as u8));
            fast.fill_contiguous(&area, colors.clone()).unwrap();
            slow.fill_contiguous(&area, colors).unwrap();
            fast.fill_solid(&area, Gray8::new(9)).unwrap();
            slow.fill_solid(&area, Gray8::new(9)).unwrap();
        }
        assert_eq!(fast.pixels(), slow.0.pixels());
    }

    fn frame_pixels() -> std::vec::Vec<u8> {
        (0..120 * 160).map(|i| 180 + (i % 7) as u8).collect()
    }

    #[test]
    fn whole_view_on_the_framebuffer() {
        let px = frame_pixels();
        let frame = Frame::new(&px, 160, 120).unwrap();
        let mut input = [0u8; PIXELS];
        input[0] = 255;
        let scores = [-100i8, 50, 120, -128, 0, 0, 0, 0, 0, 0];
        let view = View {
            index: 3,
            mode: Some(Mode::Dataset),
            nothing_there: false,
            frame,
            detection: None,
            input: &input,
            truth: Some("Dress"),
            prediction: Some(Shown {
                class: 2,
                name: "Pullover",
                scores: &scores,
                confidence_percent: 97,
            }),
        };
        let mut fb = Framebuffer::new();
        draw_view(&mut fb, &view).unwrap();
        let at = |x: usize, y: usize| fb.pixels()[y * WIDTH + x];
        // Thumbnail: frame pixel (2x, 2y).
        assert_eq!(at(5, 7), px[14 * 160 + 10]);
        // Model input pixel (0, 0) enlarged to 2x2 at (94, 2).
        assert_eq!([at(94, 2), at(95, 3), at(96, 2)], [255, 255, 0]);
        // The highlighted bar (class 2) is white at the bottom, class 3's is empty.
        assert_eq!(at(32 + 3, 127), 255);
        assert_eq!(at(48 + 3, 127), 0);
        // Some text was drawn in each text row.
        for y in [64, 74, 84] {
            assert!((y..y + 10).any(|yy| (0..WIDTH).any(|x| at(x, yy) == 255)));
        }
        let before = fb.checksum();
        draw_view(&mut fb, &view).unwrap();
        assert_eq!(fb.checksum(), before, "drawing is deterministic");
    }
}
