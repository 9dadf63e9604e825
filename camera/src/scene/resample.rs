//! Stage 4: the resample. The square crop around the box, its area-averaging resize to
//! 28x28, and the levels in the dataset's convention (light garment on black).

pub(super) use crate::preprocess::{invert_and_stretch, resize_area, square_around};
