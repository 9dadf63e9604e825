//! Classification metrics: accuracy, per-class accuracy, confusion matrix.

use serde::{Deserialize, Serialize};

use crate::data::{CLASS_NAMES, NUM_CLASSES};

/// Metrics of predictions against true labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Number of images.
    pub images: usize,
    /// Share of correct predictions.
    pub accuracy: f64,
    /// Accuracy within each true class, indexed by label.
    pub per_class_accuracy: Vec<f64>,
    /// `confusion[true][predicted]` counts.
    pub confusion: [[u64; NUM_CLASSES]; NUM_CLASSES],
}

impl Metrics {
    /// Computes the metrics of `predicted` against `labels` (equal lengths, values < 10).
    pub fn new(predicted: &[u8], labels: &[u8]) -> Metrics {
        assert_eq!(predicted.len(), labels.len(), "one prediction per label");
        let mut confusion = [[0u64; NUM_CLASSES]; NUM_CLASSES];
        for (&p, &t) in predicted.iter().zip(labels) {
            confusion[usize::from(t)][usize::from(p)] += 1;
        }
        let correct: u64 = (0..NUM_CLASSES).map(|c| confusion[c][c]).sum();
        let per_class_accuracy = confusion
            .iter()
            .enumerate()
            .map(|(c, row)| row[c] as f64 / row.iter().sum::<u64>().max(1) as f64)
            .collect();
        Metrics {
            images: labels.len(),
            accuracy: correct as f64 / labels.len().max(1) as f64,
            per_class_accuracy,
            confusion,
        }
    }

    /// A plain-text table: per-class accuracy and the confusion matrix.
    pub fn table(&self) -> String {
        let mut s = format!(
            "accuracy {:.2}% on {} images\n\n{:<12} {:>7}   confusion (rows true, columns predicted)\n",
            100.0 * self.accuracy,
            self.images,
            "class",
            "acc %"
        );
        for (c, row) in self.confusion.iter().enumerate() {
            s += &format!(
                "{:<12} {:>7.2}  ",
                CLASS_NAMES[c],
                100.0 * self.per_class_accuracy[c]
            );
            for v in row {
                s += &format!(" {v:>5}");
            }
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_rates() {
        let m = Metrics::new(&[0, 1, 1, 2], &[0, 1, 2, 2]);
        assert_eq!(m.accuracy, 0.75);
        assert_eq!(m.confusion[2][1], 1);
        assert_eq!(m.per_class_accuracy[2], 0.5);
        assert_eq!(m.per_class_accuracy[5], 0.0);
        assert!(m.table().contains("75.00%"));
    }
}
