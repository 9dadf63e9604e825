//! Links libtorch so that the trainer runs without `LD_LIBRARY_PATH` (see build_libtorch.rs).
include!("build_libtorch.rs");

fn main() {
    link_libtorch();
}
