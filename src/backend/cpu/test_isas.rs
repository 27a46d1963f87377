//! Which ISAs the CPU kernel tests run, and a loud failure when this CPU lacks one.
//!
//! Production runs the widest ISA the CPU has, so a kernel test that quietly
//! left out the ISAs a CPU lacks would pass on an AVX2-only runner with the
//! AVX-512 paths never run. Instead each test asks for every ISA of
//! [`Isa::ALL`] and fails on one this CPU lacks, unless the environment
//! variable [`SKIP_VAR`] names it (comma separated, spelled as for
//! `WEIR_CPU_ISA`):
//!
//! ```text
//! WEIR_TEST_SKIP_ISA=avx512bf16,avx512 cargo test --release --lib backend::cpu
//! ```
//!
//! A skipped ISA is said on stderr. Naming an ISA the CPU has changes nothing:
//! it still runs. `scripts/test.sh` prints which ISAs the CPU has before the
//! tests run.

use std::collections::BTreeSet;
use std::sync::Mutex;

use super::matmul::Isa;

/// The environment variable that lets the kernel tests skip ISAs this CPU lacks.
pub(crate) const SKIP_VAR: &str = "WEIR_TEST_SKIP_ISA";

/// Whether the calling test runs `isa`: true when the CPU has it; false (said on
/// stderr) when the CPU lacks it and [`SKIP_VAR`] names it; a panic otherwise.
pub(crate) fn runs(isa: Isa) -> bool {
    let skip = std::env::var(SKIP_VAR).unwrap_or_default();
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    match decide(isa, isa.is_supported(), &skip) {
        Ok(true) => true,
        Ok(false) => {
            // Said once per test and ISA, however often a test asks.
            static SAID: Mutex<BTreeSet<(String, Isa)>> = Mutex::new(BTreeSet::new());
            let mut said = SAID.lock().unwrap_or_else(|e| e.into_inner());
            if said.insert((test.clone(), isa)) {
                eprintln!(
                    "{test}: {} not run: this CPU lacks it and {SKIP_VAR} names it",
                    isa.name()
                );
            }
            false
        }
        Err(why) => panic!("{test}: {why}"),
    }
}

/// Every ISA of [`Isa::ALL`] that [`runs`], lowest first.
pub(crate) fn all() -> Vec<Isa> {
    Isa::ALL.into_iter().filter(|&isa| runs(isa)).collect()
}

/// [`runs`] without the environment: `skip` is the variable's value.
fn decide(isa: Isa, supported: bool, skip: &str) -> Result<bool, String> {
    let mut opted_out = false;
    for name in skip.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let named = Isa::parse(name).ok_or_else(|| {
            format!("{SKIP_VAR}: {name:?} is not an ISA (scalar, avx2, avx512, avx512bf16)")
        })?;
        opted_out |= named == isa;
    }
    match (supported, opted_out) {
        (true, _) => Ok(true),
        (false, true) => Ok(false),
        (false, false) => Err(format!(
            "this CPU lacks {name}, so its kernels would go untested; \
             set {SKIP_VAR}={name} to skip them knowingly",
            name = isa.name()
        )),
    }
}

#[test]
fn missing_isa_fails_unless_named() {
    assert_eq!(decide(Isa::Avx512, true, ""), Ok(true));
    assert_eq!(decide(Isa::Avx512, true, "avx512"), Ok(true));
    assert!(decide(Isa::Avx512, false, "").is_err());
    assert!(decide(Isa::Avx512, false, "avx512bf16").is_err());
    assert_eq!(decide(Isa::Avx512, false, "avx512bf16, avx512"), Ok(false));
    assert!(decide(Isa::Avx2Fma, false, "avx2,avx-512").is_err());
}
