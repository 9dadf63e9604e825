//! Links libtorch so that the tools run without `LD_LIBRARY_PATH`.
include!("../trainer/build_libtorch.rs");

fn main() {
    link_libtorch();
}
