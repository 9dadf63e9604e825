//! Classification metrics: accuracy, per-class accuracy, confusion matrix.

use serde::{Deserialize, Serialize};

use crate::data::CLASS_NAMES;

/// Metrics of predictions against true labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Number of images.
    pub images: usize,
    /// Share of correct predictions.
    pub accuracy: f64,
    /// Accuracy within each true class, indexed by label.
    pub per_class_accuracy: Vec<f64>,
    /// `confusion[true][predicted]` counts, one row and one column per class.
    pub confusion: Vec<Vec<u64>>,
    /// The class names, indexed by label (not recorded; empty when read back: the
    /// Fashion-MNIST names are printed).
    #[serde(skip)]
    pub class_names: Vec<String>,
}

impl Metrics {
    /// Computes the metrics of `predicted` against `labels` (equal lengths, values < 10)
    /// for the ten Fashion-MNIST classes.
    pub fn new(predicted: &[u8], labels: &[u8]) -> Metrics {
        Metrics::with_classes(predicted, labels, &CLASS_NAMES.map(String::from))
    }

    /// Computes the metrics of `predicted` against `labels` (equal lengths, values below
    /// the number of `class_names`).
    pub fn with_classes(predicted: &[u8], labels: &[u8], class_names: &[String]) -> Metrics {
        assert_eq!(predicted.len(), labels.len(), "one prediction per label");
        let n = class_names.len();
        let mut confusion = vec![vec![0u64; n]; n];
        for (&p, &t) in predicted.iter().zip(labels) {
            confusion[usize::from(t)][usize::from(p)] += 1;
        }
        let correct: u64 = (0..n).map(|c| confusion[c][c]).sum();
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
            class_names: class_names.to_vec(),
        }
    }

    /// The name of class `c`.
    pub fn class_name(&self, c: usize) -> &str {
        match self.class_names.get(c) {
            Some(name) => name,
            None => CLASS_NAMES.get(c).copied().unwrap_or("?"),
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
                self.class_name(c),
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
        assert!(m.table().contains("Pullover"));
    }

    #[test]
    fn any_number_of_named_classes() {
        let names = ["hat", "scarf", "glove"].map(String::from);
        let m = Metrics::with_classes(&[0, 2, 2], &[0, 1, 2], &names);
        assert_eq!(
            m.confusion,
            vec![vec![1, 0, 0], vec![0, 0, 1], vec![0, 0, 1]]
        );
        assert_eq!(m.per_class_accuracy, vec![1.0, 0.0, 1.0]);
        assert!(m.table().contains("scarf"), "{}", m.table());
        let back: Metrics = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back.confusion, m.confusion);
    }
}
