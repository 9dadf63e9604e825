//! Training, evaluation and study of the Fashion-MNIST CNN with libtorch (tch).
//!
//! The `trainer` binary is a thin clap layer over these modules (one module per verb in
//! `src/commands/`); what needs no libtorch (data, quantizer, statistics, files) is in
//! the `trainer-core` crate.
#![forbid(unsafe_code)]

pub mod eval;
pub mod nn;
pub mod study;
pub mod train;
