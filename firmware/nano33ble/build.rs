//! Links with `memory.x` (app at 0x10000, behind the Arduino bootloader) or, with the
//! `swd` feature, `memory-swd.x` (app at 0), and embeds the model (see
//! `../build-support.rs`).

include!("../build-support.rs");

fn main() {
    configure();
    println!("cargo:rerun-if-changed=memory-swd.x");
    if env::var_os("CARGO_FEATURE_SWD").is_some() {
        let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
        fs::copy("memory-swd.x", out.join("memory.x")).expect("copying memory-swd.x");
    }
}
