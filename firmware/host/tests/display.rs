//! The nRF52840-DK's display path on the host: the drawing of a frame, converted to
//! RGB565 by `GrayOnRgb565`, sent by `mipidsi` (ST7735, `fw_common::display::st7735`)
//! over a recording SPI bus and DC pin; the recorded bytes decoded as the panel does
//! (CASET, RASET, RAMWR) give exactly the in-memory framebuffer's picture.

use std::cell::RefCell;
use std::convert::Infallible;
use std::rc::Rc;

use embedded_graphics::pixelcolor::raw::RawU16;
use embedded_graphics::pixelcolor::{Gray8, Rgb565};
use embedded_graphics::prelude::*;
use embedded_hal::digital::{ErrorType as PinErrorType, OutputPin};
use embedded_hal::spi::{ErrorType, Operation, SpiDevice};
use fw_common::display::{self, Framebuffer, GrayOnRgb565, HEIGHT, WIDTH};
use fw_common::frames::{FlashFrames, FrameSet, FrameSource};
use infer_core::Model;

mod common;
use common::{NoDelay, frames_blob, mcu_model_bytes, process};

/// What went over the wire: a DC level change or the bytes of one SPI write.
#[derive(Debug, Clone, PartialEq)]
enum Wire {
    Dc(bool),
    Bytes(Vec<u8>),
}

type Log = Rc<RefCell<Vec<Wire>>>;

struct Spi(Log);
struct Dc(Log);
impl ErrorType for Spi {
    type Error = Infallible;
}

impl SpiDevice for Spi {
    fn transaction(&mut self, ops: &mut [Operation<'_, u8>]) -> Result<(), Infallible> {
        for op in ops {
            match op {
                Operation::Write(b) => self.0.borrow_mut().push(Wire::Bytes(b.to_vec())),
                Operation::DelayNs(_) => {}
                other => panic!("the display only writes, got {other:?}"),
            }
        }
        Ok(())
    }
}

impl PinErrorType for Dc {
    type Error = Infallible;
}

impl OutputPin for Dc {
    fn set_low(&mut self) -> Result<(), Infallible> {
        self.0.borrow_mut().push(Wire::Dc(false));
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Infallible> {
        self.0.borrow_mut().push(Wire::Dc(true));
        Ok(())
    }
}

/// The controller's memory as it fills it, in the landscape coordinates the driver
/// addresses (MADCTL's row/column exchange is the controller's business): 162x132 for
/// the ST7735S. The 160x128 glass sits at [`GLASS`] in it, where mipidsi puts a
/// 128x160 display turned by 90 degrees without `display_offset`.
struct Panel {
    pixels: Vec<u16>,
    commands: Vec<u8>,
}

const MEMORY: (usize, usize) = (162, 132);
const GLASS: (usize, usize) = (0, 4);

fn decode(log: &[Wire]) -> Panel {
    let mut panel = Panel {
        pixels: vec![0; MEMORY.0 * MEMORY.1],
        commands: Vec::new(),
    };
    let (mut dc, mut cmd) = (true, 0u8);
    let (mut x0, mut x1, mut y0, mut y1) = (0usize, 0usize, 0usize, 0usize);
    let (mut x, mut y) = (0usize, 0usize);
    let mut pending: Vec<u8> = Vec::new();
    for w in log {
        match w {
            Wire::Dc(level) => dc = *level,
            Wire::Bytes(b) if !dc => {
                cmd = b[0];
                panel.commands.push(cmd);
                pending.clear();
                if cmd == 0x2C {
                    (x, y) = (x0, y0);
                }
            }
            Wire::Bytes(b) => {
                let be = |i: usize| usize::from(u16::from_be_bytes([b[i], b[i + 1]]));
                match cmd {
                    0x2A => (x0, x1) = (be(0), be(2)),
                    0x2B => (y0, y1) = (be(0), be(2)),
                    0x2C => {
                        pending.extend_from_slice(b);
                        let whole = pending.len() / 2 * 2;
                        for px in pending[..whole].chunks_exact(2) {
                            panel.pixels[y * MEMORY.0 + x] = u16::from_be_bytes([px[0], px[1]]);
                            x += 1;
                            if x > x1 {
                                x = x0;
                                y += 1;
                            }
                        }
                        pending.drain(..whole);
                        assert!(y <= y1 + 1, "wrote past the window");
                    }
                    _ => {}
                }
            }
        }
    }
    panel
}

#[test]
fn the_drawn_screen_arrives_on_the_st7735_pixel_for_pixel() {
    let (model_bytes, blob) = (mcu_model_bytes(), frames_blob());
    let model = Model::from_bytes(&model_bytes).unwrap();
    let mut source = FlashFrames::new(FrameSet::parse(&blob).unwrap());
    let mut scratch = vec![0i8; model.scratch_len()];
    let mut input = [0u8; infer_core::IMAGE_LEN];

    let log: Log = Rc::default();
    let mut buffer = [0u8; 512];
    let di = mipidsi::interface::SpiInterface::new(Spi(log.clone()), Dc(log.clone()), &mut buffer);
    let lcd = display::st7735(di).init(&mut NoDelay).unwrap();
    assert_eq!(
        lcd.bounding_box().size,
        Size::new(WIDTH as u32, HEIGHT as u32)
    );
    let mut screen = GrayOnRgb565::new(lcd);
    let mut reference = Framebuffer::new();

    for index in 0..3 {
        let captured = source.next_frame().unwrap().unwrap();
        log.borrow_mut().clear();
        let on_panel = process(
            &model,
            index,
            &captured,
            &mut input,
            &mut scratch,
            &mut screen,
        );
        let in_ram = process(
            &model,
            index,
            &captured,
            &mut input,
            &mut scratch,
            &mut reference,
        );
        assert_eq!(on_panel.confidence_percent, in_ram.confidence_percent);
        let panel = decode(&log.borrow());
        assert!(panel.commands.contains(&0x2C), "no RAMWR");
        let expected: Vec<u16> = reference
            .pixels()
            .iter()
            .map(|&g| RawU16::from(display::gray_to_rgb565(Gray8::new(g))).into_inner())
            .collect();
        // Every pixel of the screen is drawn each frame (the view clears first), and
        // nothing outside the glass.
        let glass: Vec<u16> = panel
            .pixels
            .chunks_exact(MEMORY.0)
            .skip(GLASS.1)
            .take(HEIGHT)
            .flat_map(|row| row[GLASS.0..GLASS.0 + WIDTH].iter().copied())
            .collect();
        assert_eq!(glass, expected, "frame {index}");
        let drawn = panel.pixels.iter().filter(|&&p| p != 0).count();
        let inside = glass.iter().filter(|&&p| p != 0).count();
        assert_eq!(drawn, inside, "frame {index}: pixels outside the glass");
    }
    assert_eq!(display::gray_to_rgb565(Gray8::WHITE), Rgb565::WHITE);
    assert_eq!(display::gray_to_rgb565(Gray8::BLACK), Rgb565::BLACK);
}
