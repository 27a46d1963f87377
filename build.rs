//! Build script. The CUDA backend (a later issue) compiles `kernels/*.cu`
//! to PTX here when nvcc is present; today there is nothing to build.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=kernels");
}
