//! PNG figures: learning curves, box plot, image grid and confusion matrix.
//!
//! Drawn with plotters into memory, then written atomically. Text uses DejaVu Sans
//! (Debian's `fonts-dejavu-core`, installed by `scripts/setup.sh`).

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow, bail};
use plotters::prelude::*;

use crate::study::CvReport;
use trainer_core::data::{CLASS_NAMES, Dataset, IMAGE_SIDE};
use trainer_core::files::atomic::write_png;
use trainer_core::metrics::Metrics;

/// Where the font is looked for, in order.
const FONT_PATHS: [&str; 2] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// matplotlib's default blue and orange, as in the seed's figures.
const TRAIN_BLUE: RGBColor = RGBColor(31, 119, 180);
const VAL_ORANGE: RGBColor = RGBColor(255, 127, 14);

/// Registers the font with plotters once; fails with a clear message if it is missing.
fn ensure_font() -> Result<()> {
    static FONT: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        let path = FONT_PATHS
            .iter()
            .find(|p| Path::new(p).is_file())
            .ok_or_else(|| {
                format!(
                    "no font for plot labels (looked for {}): install the Debian package fonts-dejavu-core",
                    FONT_PATHS.join(", ")
                )
            })?;
        let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| format!("{path}: not a usable TrueType font"))
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

/// Renders with `draw` into a `width` x `height` RGB buffer and writes it as PNG.
fn render(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl FnOnce(DrawingArea<BitMapBackend, plotters::coord::Shift>) -> Result<()>,
) -> Result<()> {
    ensure_font()?;
    let mut buf = vec![255u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        draw(root.clone())?;
        root.present().map_err(plot_err)?;
    }
    write_png(path, width, height, buf).with_context(|| format!("saving {}", path.display()))
}

fn plot_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing failed: {e:?}")
}

/// Learning curves: cross-entropy (top) and accuracy (bottom) per epoch,
/// train in blue and validation in orange, one line per fold.
pub fn learning_curves(report: &CvReport, path: &Path) -> Result<()> {
    let epochs = report.config.train.epochs as f64;
    render(path, (900, 900), |root| {
        let panels = root.split_evenly((2, 1));
        for (panel, is_loss) in panels.iter().zip([true, false]) {
            let value = |h: &crate::train::EpochStats, train: bool| -> Option<f64> {
                match (is_loss, train) {
                    (true, true) => Some(h.train_loss),
                    (true, false) => h.val_loss,
                    (false, true) => Some(h.train_accuracy),
                    (false, false) => h.val_accuracy,
                }
            };
            let all: Vec<f64> = report
                .folds
                .iter()
                .flat_map(|f| f.history.iter())
                .flat_map(|h| [value(h, true), value(h, false)])
                .flatten()
                .collect();
            let (lo, hi) = all
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
            let pad = ((hi - lo) * 0.05).max(1e-3);
            let title = if is_loss {
                "Cross Entropy Loss"
            } else {
                "Classification Accuracy"
            };
            let mut chart = ChartBuilder::on(panel)
                .caption(title, ("sans-serif", 24))
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(60)
                .build_cartesian_2d(0.8..epochs + 0.2, (lo - pad)..(hi + pad))
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .x_labels(report.config.train.epochs)
                .x_label_formatter(&|x| format!("{x:.0}"))
                .x_desc("epoch")
                .label_style(("sans-serif", 14))
                .draw()
                .map_err(plot_err)?;
            for (i, fold) in report.folds.iter().enumerate() {
                for (train, color, name) in [
                    (true, TRAIN_BLUE, "train"),
                    (false, VAL_ORANGE, "validation"),
                ] {
                    let points: Vec<(f64, f64)> = fold
                        .history
                        .iter()
                        .filter_map(|h| value(h, train).map(|v| (h.epoch as f64, v)))
                        .collect();
                    let series = chart
                        .draw_series(LineSeries::new(points, color.stroke_width(2)))
                        .map_err(plot_err)?;
                    if i == 0 {
                        series.label(name).legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                        });
                    }
                }
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font(("sans-serif", 14))
                .draw()
                .map_err(plot_err)?;
        }
        Ok(())
    })
}

/// Quartiles by linear interpolation (numpy's default), `q` in [0, 1], of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// The five numbers a box plot draws, as matplotlib does: quartiles, median, and
/// whiskers at the most extreme values within 1.5 IQR of the box.
pub fn box_stats(values: &[f64]) -> [f64; 5] {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let (q1, med, q3) = (quantile(&v, 0.25), quantile(&v, 0.5), quantile(&v, 0.75));
    let iqr = q3 - q1;
    let low = v
        .iter()
        .copied()
        .find(|&x| x >= q1 - 1.5 * iqr)
        .unwrap_or(q1);
    let high = v
        .iter()
        .rev()
        .copied()
        .find(|&x| x <= q3 + 1.5 * iqr)
        .unwrap_or(q3);
    [low, q1, med, q3, high]
}

/// Box-and-whisker plot of fold accuracies, one box per named group, with every fold
/// drawn as a dot.
pub fn box_plot(groups: &[(String, Vec<f64>)], path: &Path) -> Result<()> {
    if groups.is_empty() || groups.iter().any(|(_, v)| v.is_empty()) {
        bail!("a box plot needs at least one value per group");
    }
    let all: Vec<f64> = groups.iter().flat_map(|(_, v)| v.iter().copied()).collect();
    let lo = all.iter().copied().fold(f64::MAX, f64::min);
    let hi = all.iter().copied().fold(f64::MIN, f64::max);
    let pad = ((hi - lo) * 0.15).max(0.002);
    let n = groups.len();
    render(path, (260 + 220 * n as u32, 600), |root| {
        let mut chart = ChartBuilder::on(&root)
            .caption("Fold accuracy", ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(36)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5..n as f64 - 0.5, (lo - pad)..(hi + pad))
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n {
                    groups[i as usize].0.clone()
                } else {
                    String::new()
                }
            })
            .y_desc("validation accuracy")
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(plot_err)?;
        for (i, (_, values)) in groups.iter().enumerate() {
            let [low, q1, med, q3, high] = box_stats(values);
            let x = i as f64;
            let (w, cap) = (0.25, 0.12);
            let line = TRAIN_BLUE.stroke_width(2);
            chart
                .draw_series([
                    PathElement::new(
                        vec![
                            (x - w, q1),
                            (x + w, q1),
                            (x + w, q3),
                            (x - w, q3),
                            (x - w, q1),
                        ],
                        line,
                    ),
                    PathElement::new(vec![(x - w, med), (x + w, med)], VAL_ORANGE.stroke_width(3)),
                    PathElement::new(vec![(x, q1), (x, low)], line),
                    PathElement::new(vec![(x, q3), (x, high)], line),
                    PathElement::new(vec![(x - cap, low), (x + cap, low)], line),
                    PathElement::new(vec![(x - cap, high), (x + cap, high)], line),
                ])
                .map_err(plot_err)?;
            chart
                .draw_series(
                    values
                        .iter()
                        .map(|&v| Circle::new((x, v), 4, BLACK.mix(0.6).filled())),
                )
                .map_err(plot_err)?;
        }
        Ok(())
    })
}

/// A 3x3 grid of the first nine images with their class names (the seed's first figure).
pub fn image_grid(data: &Dataset, path: &Path) -> Result<()> {
    let n = data.len().min(9);
    let scale = 8u32;
    let cell = IMAGE_SIDE as u32 * scale;
    let caption = 30u32;
    render(path, (3 * (cell + 20), 3 * (cell + caption + 10)), |root| {
        let cells = root.split_evenly((3, 3));
        for (i, area) in cells.iter().enumerate().take(n) {
            let label = CLASS_NAMES[usize::from(data.labels[i])];
            area.draw(&Text::new(
                format!("{i}: {label}"),
                (10, 5),
                ("sans-serif", 18).into_font(),
            ))
            .map_err(plot_err)?;
            for (p, &v) in data.image(i).iter().enumerate() {
                let (r, c) = ((p / IMAGE_SIDE) as u32, (p % IMAGE_SIDE) as u32);
                let (x, y) = (10 + (c * scale) as i32, (caption + r * scale) as i32);
                // Shown as the seed shows it: dark garment pixels on white (gray_r).
                let g = 255 - v;
                area.draw(&Rectangle::new(
                    [(x, y), (x + scale as i32, y + scale as i32)],
                    RGBColor(g, g, g).filled(),
                ))
                .map_err(plot_err)?;
            }
        }
        Ok(())
    })
}

/// A confusion-matrix heatmap: rows true class, columns predicted class.
pub fn confusion_heatmap(metrics: &Metrics, title: &str, path: &Path) -> Result<()> {
    let matrix = &metrics.confusion;
    let classes = matrix.len() as i32;
    let cell = 60i32;
    let left = 130i32;
    let top = 60i32;
    let size = (
        (left + cell * classes + 20).max(400) as u32,
        (top + cell * classes + 130) as u32,
    );
    render(path, size, |root| {
        root.draw(&Text::new(
            title.to_owned(),
            (10, 15),
            ("sans-serif", 22).into_font(),
        ))
        .map_err(plot_err)?;
        for (t, row) in matrix.iter().enumerate() {
            let total = row.iter().sum::<u64>().max(1) as f64;
            root.draw(&Text::new(
                metrics.class_name(t).to_owned(),
                (5, top + t as i32 * cell + cell / 2 - 8),
                ("sans-serif", 15).into_font(),
            ))
            .map_err(plot_err)?;
            for (p, &count) in row.iter().enumerate() {
                let share = count as f64 / total;
                let shade = (255.0 * (1.0 - share)) as u8;
                let (x, y) = (left + p as i32 * cell, top + t as i32 * cell);
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    RGBColor(shade, shade, 255).filled(),
                ))
                .map_err(plot_err)?;
                let color = if share > 0.5 { WHITE } else { BLACK };
                root.draw(&Text::new(
                    count.to_string(),
                    (x + 8, y + cell / 2 - 8),
                    ("sans-serif", 15).into_font().color(&color),
                ))
                .map_err(plot_err)?;
            }
        }
        for p in 0..matrix.len() {
            let x = left + p as i32 * cell + cell / 2 - 6;
            let y = top + classes * cell + 8;
            root.draw(&Text::new(
                metrics.class_name(p).to_owned(),
                (x, y),
                ("sans-serif", 15)
                    .into_font()
                    .transform(FontTransform::Rotate90),
            ))
            .map_err(plot_err)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_stats_match_numpy_and_clamp_whiskers_to_the_data() {
        // numpy.percentile([1, 2, 3, 4, 100], [25, 50, 75]) = [2, 3, 4]; 100 is an outlier.
        assert_eq!(
            box_stats(&[4.0, 100.0, 1.0, 3.0, 2.0]),
            [1.0, 2.0, 3.0, 4.0, 4.0]
        );
        let got = box_stats(&[0.9, 0.91]);
        for (g, e) in got.iter().zip([0.9, 0.9025, 0.905, 0.9075, 0.91]) {
            assert!((g - e).abs() < 1e-12, "{got:?}");
        }
    }
}
