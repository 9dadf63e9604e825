//! A plain-Rust float description of the network and its forward pass.
//!
//! Layouts are PyTorch's: activations `[C][H][W]`, convolution weights
//! `[O][I][kH][kW]` (OIHW), dense weights `[out][in]`, and `Flatten` in CHW
//! order. The forward pass is used for calibration and as the oracle in tests;
//! it is written for clarity first, with loops ordered so the inner one runs
//! over contiguous memory.

use infer_core::Padding;

use super::QuantizeError;

/// Side of the input image (infer-core's `IMAGE_SIDE`).
pub use infer_core::IMAGE_SIDE as SIDE;

/// A float convolution (stride 1, odd square kernel).
#[derive(Debug, Clone, PartialEq)]
pub struct FloatConv2d {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel side (odd).
    pub kernel: usize,
    /// Padding mode (`Same` pads `kernel / 2` zeros on every side).
    pub padding: Padding,
    /// ReLU after the convolution.
    pub relu: bool,
    /// Weights OIHW, `out * in * k * k` values.
    pub weight: Vec<f32>,
    /// Bias, `out` values.
    pub bias: Vec<f32>,
}

/// A float fully connected layer.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatDense {
    /// Inputs.
    pub in_features: usize,
    /// Outputs.
    pub out_features: usize,
    /// ReLU after the layer.
    pub relu: bool,
    /// Weights `[out][in]`, inputs in the CHW flatten order of the tensor before it.
    pub weight: Vec<f32>,
    /// Bias, `out` values.
    pub bias: Vec<f32>,
}

/// One float layer.
#[derive(Debug, Clone, PartialEq)]
pub enum FloatLayer {
    /// Convolution with optional ReLU.
    Conv2d(FloatConv2d),
    /// Max-pool 2x2, stride 2, floor.
    MaxPool2d,
    /// `[C][H][W]` to `[C*H*W]` (CHW order, as `torch.flatten`).
    Flatten,
    /// Global average pooling: `[C][H][W]` to `[C]`, each channel's mean.
    GlobalAvgPool,
    /// Keeps the current tensor (unchanged) as the next `Add`'s shortcut.
    Save,
    /// Adds the kept tensor (its channels zero-padded to the current tensor's)
    /// to the current one (`add` below), then ReLU if `relu`.
    Add {
        /// ReLU after the add.
        relu: bool,
    },
    /// Fully connected layer with optional ReLU.
    Dense(FloatDense),
}

/// A float network on 28x28x1 images (`pixel / 255` in `[0, 1]`).
#[derive(Debug, Clone, PartialEq)]
pub struct FloatModel {
    /// Layers in execution order.
    pub layers: Vec<FloatLayer>,
    /// One name per output of the last layer.
    pub class_names: Vec<String>,
}

/// A float activation tensor in CHW layout (a flat vector is `[n, 1, 1]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Activation {
    /// `[channels, height, width]`.
    pub shape: [usize; 3],
    /// `channels * height * width` values, CHW.
    pub data: Vec<f32>,
}

impl Activation {
    /// The model input for `pixels`: `[1, 28, 28]`, `pixel / 255`.
    pub fn from_pixels(pixels: &[u8; infer_core::IMAGE_LEN]) -> Self {
        Self {
            shape: [1, SIDE, SIDE],
            data: pixels.iter().map(|&p| f32::from(p) / 255.0).collect(),
        }
    }
}

fn shape_err(layer: usize, reason: impl Into<String>) -> QuantizeError {
    QuantizeError::Shape {
        layer,
        reason: reason.into(),
    }
}

impl FloatConv2d {
    /// Output `[out, H', W']` for input `[C, H, W]`, or why it does not fit.
    pub fn out_shape(
        &self,
        layer: usize,
        [c, h, w]: [usize; 3],
    ) -> Result<[usize; 3], QuantizeError> {
        let k = self.kernel;
        if k.is_multiple_of(2) || self.out_channels == 0 {
            return Err(shape_err(layer, "kernel must be odd and out_channels > 0"));
        }
        if c != self.in_channels {
            return Err(shape_err(
                layer,
                format!("expects {} input channels, got {c}", self.in_channels),
            ));
        }
        if self.weight.len() != self.out_channels * c * k * k
            || self.bias.len() != self.out_channels
        {
            return Err(shape_err(
                layer,
                "weight or bias length does not match the shape",
            ));
        }
        match self.padding {
            Padding::Same => Ok([self.out_channels, h, w]),
            Padding::Valid if h >= k && w >= k => Ok([self.out_channels, h - k + 1, w - k + 1]),
            Padding::Valid => Err(shape_err(layer, "input smaller than the kernel")),
        }
    }

    /// Convolution plus bias, before the ReLU.
    pub fn pre_activation(&self, x: &Activation) -> Activation {
        let [c, h, w] = x.shape;
        let k = self.kernel;
        let pad = match self.padding {
            Padding::Valid => 0,
            Padding::Same => k / 2,
        };
        let (oh, ow) = (h + 2 * pad - k + 1, w + 2 * pad - k + 1);
        let mut out = vec![0f32; self.out_channels * oh * ow];
        for (o, plane) in out.chunks_exact_mut(oh * ow).enumerate() {
            plane.fill(self.bias[o]);
            for ic in 0..c {
                let input = &x.data[ic * h * w..][..h * w];
                for ky in 0..k {
                    for kx in 0..k {
                        let wv = self.weight[((o * c + ic) * k + ky) * k + kx];
                        // Output columns whose tap ox + kx - pad lies inside [0, w).
                        let x_lo = pad.saturating_sub(kx);
                        let x_hi = (w + pad).saturating_sub(kx).min(ow);
                        if x_lo >= x_hi {
                            continue;
                        }
                        for oy in 0..oh {
                            let iy = (oy + ky).wrapping_sub(pad);
                            if iy >= h {
                                continue;
                            }
                            let src = &input[iy * w + x_lo + kx - pad..][..x_hi - x_lo];
                            let dst = &mut plane[oy * ow + x_lo..][..x_hi - x_lo];
                            for (d, &s) in dst.iter_mut().zip(src) {
                                *d += wv * s;
                            }
                        }
                    }
                }
            }
        }
        Activation {
            shape: [self.out_channels, oh, ow],
            data: out,
        }
    }
}

impl FloatDense {
    /// Matrix-vector product plus bias, before the ReLU.
    pub fn pre_activation(&self, x: &Activation) -> Activation {
        let data = self
            .weight
            .chunks_exact(self.in_features)
            .zip(&self.bias)
            .map(|(row, &b)| b + row.iter().zip(&x.data).map(|(w, x)| w * x).sum::<f32>())
            .collect();
        Activation {
            shape: [self.out_features, 1, 1],
            data,
        }
    }
}

/// Max-pool 2x2 stride 2 (floor) on a CHW tensor.
pub fn maxpool2x2(x: &Activation) -> Activation {
    let [c, h, w] = x.shape;
    let (oh, ow) = (h / 2, w / 2);
    let mut data = Vec::with_capacity(c * oh * ow);
    for ch in 0..c {
        let plane = &x.data[ch * h * w..][..h * w];
        for y in 0..oh {
            for xx in 0..ow {
                let i = 2 * y * w + 2 * xx;
                data.push(
                    plane[i]
                        .max(plane[i + 1])
                        .max(plane[i + w].max(plane[i + w + 1])),
                );
            }
        }
    }
    Activation {
        shape: [c, oh, ow],
        data,
    }
}

/// Global average pooling of a CHW tensor: `[c, 1, 1]`, each channel's mean
/// over its `h * w` pixels (as `mean` over the spatial dimensions in tch).
pub fn global_avg_pool(x: &Activation) -> Activation {
    let [c, h, w] = x.shape;
    let data = x
        .data
        .chunks_exact(h * w)
        .map(|plane| plane.iter().sum::<f32>() / (h * w) as f32)
        .collect();
    Activation {
        shape: [c, 1, 1],
        data,
    }
}

/// The residual add of CHW tensors: `main + skip`, where `skip` has `main`'s
/// rows and columns and at most its channels (the missing ones are zero),
/// then ReLU if `relu`.
///
/// # Panics
/// If `skip` has other rows or columns, or more channels, than `main`.
pub fn add(main: &Activation, skip: &Activation, relu: bool) -> Activation {
    let [c, h, w] = main.shape;
    let [sc, sh, sw] = skip.shape;
    assert!(
        sc <= c && (sh, sw) == (h, w),
        "the shortcut does not fit the main path"
    );
    let mut y = main.clone();
    for (v, &s) in y.data.iter_mut().zip(&skip.data) {
        *v += s;
    }
    if relu {
        self::relu(&mut y);
    }
    y
}

/// ReLU in place.
pub fn relu(x: &mut Activation) {
    for v in &mut x.data {
        *v = v.max(0.0);
    }
}

impl FloatModel {
    /// Checks that the layers chain from the 28x28x1 input and the last
    /// layer's width matches the class names; returns each layer's output shape.
    pub fn shapes(&self) -> Result<Vec<[usize; 3]>, QuantizeError> {
        if self.layers.is_empty() {
            return Err(shape_err(0, "the model has no layers"));
        }
        let mut shape = [1, SIDE, SIDE];
        let mut shapes = Vec::with_capacity(self.layers.len());
        let mut kept: Option<[usize; 3]> = None;
        for (i, layer) in self.layers.iter().enumerate() {
            shape = match layer {
                FloatLayer::Save => {
                    if kept.replace(shape).is_some() {
                        return Err(shape_err(i, "a Save while another tensor is kept"));
                    }
                    shape
                }
                FloatLayer::Add { .. } => {
                    let [kc, kh, kw] = kept
                        .take()
                        .ok_or_else(|| shape_err(i, "an Add without a Save"))?;
                    let [c, h, w] = shape;
                    if kc > c || (kh, kw) != (h, w) {
                        return Err(shape_err(
                            i,
                            format!("shortcut {:?} does not fit {shape:?}", [kc, kh, kw]),
                        ));
                    }
                    shape
                }
                FloatLayer::Conv2d(conv) => conv.out_shape(i, shape)?,
                FloatLayer::MaxPool2d => {
                    let [c, h, w] = shape;
                    if h < 2 || w < 2 {
                        return Err(shape_err(i, "max-pool input smaller than 2x2"));
                    }
                    [c, h / 2, w / 2]
                }
                FloatLayer::Flatten => [shape.iter().product(), 1, 1],
                FloatLayer::GlobalAvgPool => [shape[0], 1, 1],
                FloatLayer::Dense(d) => {
                    let [c, h, w] = shape;
                    if h != 1 || w != 1 {
                        return Err(shape_err(i, "dense layer on an input that is not flat"));
                    }
                    if c != d.in_features
                        || d.out_features == 0
                        || d.weight.len() != d.in_features * d.out_features
                        || d.bias.len() != d.out_features
                    {
                        return Err(shape_err(i, "dense weight or bias length does not match"));
                    }
                    [d.out_features, 1, 1]
                }
            };
            shapes.push(shape);
        }
        if kept.is_some() {
            return Err(shape_err(self.layers.len() - 1, "a Save without its Add"));
        }
        let outputs: usize = shape.iter().product();
        if outputs != self.class_names.len() {
            return Err(shape_err(
                self.layers.len() - 1,
                format!(
                    "{outputs} outputs but {} class names",
                    self.class_names.len()
                ),
            ));
        }
        Ok(shapes)
    }

    /// Applies layer `i` (with its ReLU) to `x`; `kept` is the tensor the last
    /// `Save` kept, which an `Add` adds (without one, an `Add` adds nothing:
    /// [`shapes`](Self::shapes) refuses such a model).
    pub fn apply(&self, i: usize, x: &Activation, kept: Option<&Activation>) -> Activation {
        match &self.layers[i] {
            FloatLayer::Save => x.clone(),
            FloatLayer::Add { relu } => match kept {
                Some(skip) => add(x, skip, *relu),
                None => {
                    let mut y = x.clone();
                    if *relu {
                        self::relu(&mut y);
                    }
                    y
                }
            },
            FloatLayer::Conv2d(conv) => {
                let mut y = conv.pre_activation(x);
                if conv.relu {
                    relu(&mut y);
                }
                y
            }
            FloatLayer::MaxPool2d => maxpool2x2(x),
            FloatLayer::GlobalAvgPool => global_avg_pool(x),
            FloatLayer::Flatten => Activation {
                shape: [x.data.len(), 1, 1],
                data: x.data.clone(),
            },
            FloatLayer::Dense(dense) => {
                let mut y = dense.pre_activation(x);
                if dense.relu {
                    relu(&mut y);
                }
                y
            }
        }
    }

    /// Float logits of one image (`pixel / 255` input). The model must be
    /// well formed ([`shapes`](Self::shapes) succeeds).
    pub fn forward(&self, pixels: &[u8; infer_core::IMAGE_LEN]) -> Vec<f32> {
        let mut x = Activation::from_pixels(pixels);
        let mut kept = None;
        for i in 0..self.layers.len() {
            if self.layers[i] == FloatLayer::Save {
                kept = Some(x.clone());
            }
            x = self.apply(i, &x, kept.as_ref());
        }
        x.data
    }
}
