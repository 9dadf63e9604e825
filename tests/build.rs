//! The same libtorch link settings as the trainer (see ../trainer/build_libtorch.rs).
include!("../trainer/build_libtorch.rs");

fn main() {
    link_libtorch();
}
