//! The fast integer-only kernels [`Model::logits`](crate::Model::logits) runs,
//! one module per operator.
//!
//! Every kernel works on HWC int8 tensors and is called only after
//! `Model::from_bytes` has checked all sizes, so the slices it indexes always
//! have the lengths its geometry says. Each must compute exactly what the
//! public [`reference`](crate::reference) kernel of its operator computes;
//! property tests compare the two on random shapes and values.

pub(crate) mod add;
pub(crate) mod avgpool;
pub(crate) mod conv2d;
pub(crate) mod dense;
pub(crate) mod dot;
pub(crate) mod maxpool;
pub(crate) mod requant;
