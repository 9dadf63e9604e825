//! Links with `memory.x` and embeds the model and the sample frames (see
//! `../build-support.rs`).

include!("../build-support.rs");

fn main() {
    configure();
}
