// Link settings for binaries and tests that use libtorch, included by the build
// scripts of `trainer` and `tests`:
// - an rpath to libtorch's `lib/`, so binaries run without `LD_LIBRARY_PATH`
//   (torch-sys's own rpath does not reach crates that use tch);
// - with a CUDA libtorch, `libtorch_cuda.so` is linked with `--no-as-needed`:
//   otherwise the linker drops it and `tch::Cuda::is_available()` stays false.

/// Emits the link arguments described above.
fn link_libtorch() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    if std::path::Path::new(&lib).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,-ltorch,--as-needed");
    }
}
