//! Camera frame to 28x28 model input (no_std, integer only).
