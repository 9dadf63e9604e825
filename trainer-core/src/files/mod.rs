//! Files that are never half written: atomic writes and the run's model folder.

pub mod atomic;
pub mod folder;
