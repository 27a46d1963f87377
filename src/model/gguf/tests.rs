//! The reader against a file written by gguf-py's `GGUFWriter`
//! (`scripts/make_quant_fixtures.py`), then against that file damaged in
//! the ways a bad download or a hostile file is.

use super::*;

const TINY: &[u8] = include_bytes!("../../../tests/data/gguf/tiny.gguf");

fn ramp(n: usize) -> Vec<f32> {
    (0..n).map(|i| i as f32 * 0.25 - 3.0).collect()
}

fn f32_file(bytes: &[u8]) -> Vec<f32> {
    f32s(bytes)
}

/// Writes `bytes` to a file of its own and opens it.
fn open_bytes(bytes: &[u8], tag: &str) -> Result<GgufFile, ModelError> {
    let path = std::env::temp_dir().join(format!("weir-gguf-{}-{tag}.gguf", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    let r = GgufFile::open(&path);
    let _ = std::fs::remove_file(&path);
    r
}

/// Byte offset just past the first occurrence of `needle`.
fn after(needle: &[u8]) -> usize {
    TINY.windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{needle:?} not in the fixture"))
        + needle.len()
}

#[test]
fn reads_what_gguf_py_wrote() {
    let g = open_bytes(TINY, "ok").unwrap();
    assert_eq!(g.version, 3);
    let v = |k: &str| g.get(k).unwrap_or_else(|| panic!("{k}")).clone();
    assert_eq!(v("general.architecture").as_str(), Some("llama"));
    assert_eq!(v("t.u8"), Value::Uint(200));
    assert_eq!(v("t.i8"), Value::Int(-100));
    assert_eq!(v("t.u16"), Value::Uint(60000));
    assert_eq!(v("t.i16"), Value::Int(-30000));
    assert_eq!(v("t.u32"), Value::Uint(4_000_000_000));
    assert_eq!(v("t.i32"), Value::Int(-2_000_000_000));
    assert_eq!(v("t.f32"), Value::Float(0.5));
    assert_eq!(v("t.bool"), Value::Bool(true));
    assert_eq!(v("t.str").as_str(), Some("héllo"));
    assert_eq!(v("t.u64"), Value::Uint(1 << 60));
    assert_eq!(v("t.i64"), Value::Int(-(1 << 60)));
    assert_eq!(v("t.f64"), Value::Float(-1.25));
    let strs = v("t.strs");
    let strs: Vec<&str> = strs
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert_eq!(strs, ["a", "bc", ""]);
    let ints: Vec<i64> = v("t.ints")
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as i64)
        .collect();
    assert_eq!(ints, [1, -2, 3]);

    match g.matrix("f32.weight", 3, 64).unwrap() {
        HostMatrix::F32 { data, .. } => assert_eq!(data, ramp(192)),
        other => panic!("{other:?}"),
    }
    match g.matrix("f16.weight", 2, 32).unwrap() {
        HostMatrix::F16 { data, .. } => {
            assert_eq!(
                data.iter().map(|v| v.to_f32()).collect::<Vec<_>>(),
                ramp(64)
            )
        }
        other => panic!("{other:?}"),
    }
    match g.matrix("bf16.weight", 2, 32).unwrap() {
        HostMatrix::Bf16 { data, .. } => {
            assert_eq!(
                data.iter().map(|v| v.to_f32()).collect::<Vec<_>>(),
                ramp(64)
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(g.vector("norm.weight", 64).unwrap(), ramp(64));
    for (name, golden) in [
        (
            "q8_0.weight",
            &include_bytes!("../../../tests/data/quant/q8_0.f32")[..],
        ),
        (
            "q4_k.weight",
            &include_bytes!("../../../tests/data/quant/q4_k.f32")[..],
        ),
        (
            "q6_k.weight",
            &include_bytes!("../../../tests/data/quant/q6_k.f32")[..],
        ),
    ] {
        match g.matrix(name, 6, 512).unwrap() {
            HostMatrix::Quant(q) => assert_eq!(q.dequantize(), f32_file(golden), "{name}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn wrong_shapes_and_unsupported_types_name_the_tensor() {
    let g = open_bytes(TINY, "shapes").unwrap();
    let e = g.matrix("f32.weight", 64, 3).unwrap_err().to_string();
    assert!(
        e.contains("f32.weight") && e.contains("expected [3, 64]"),
        "{e}"
    );
    let e = g.matrix("q3_k.weight", 1, 256).unwrap_err().to_string();
    assert!(
        e.contains("q3_k.weight") && e.contains("Q3_K is not supported"),
        "{e}"
    );
    let e = g.vector("q8_0.weight", 6 * 512).unwrap_err().to_string();
    assert!(e.contains("q8_0.weight"), "{e}");
    let e = g.matrix("absent.weight", 1, 1).unwrap_err().to_string();
    assert!(
        e.contains("absent.weight") && e.contains("weir-gguf"),
        "{e}"
    );
}

/// Every truncation of the file before the end of its last tensor is an
/// error (most in the header, the rest a tensor running past the end),
/// never a panic; the alignment padding after it may go.
#[test]
fn every_truncation_is_an_error() {
    let full = open_bytes(TINY, "full").unwrap();
    let data_end = full.tensors().iter().map(|t| t.range.end).max().unwrap();
    assert!(data_end <= TINY.len() && data_end > TINY.len() - 32);
    let path = std::env::temp_dir().join(format!("weir-gguf-{}-trunc.gguf", std::process::id()));
    for len in (0..data_end).step_by(7).chain([data_end - 1]) {
        std::fs::write(&path, &TINY[..len]).unwrap();
        let e = match GgufFile::open(&path) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("a file cut to {len} of {} bytes was accepted", TINY.len()),
        };
        assert!(e.contains(&path.display().to_string()), "{e}");
    }
    std::fs::write(&path, &TINY[..data_end]).unwrap();
    assert!(GgufFile::open(&path).is_ok());
    let _ = std::fs::remove_file(&path);
}

#[test]
fn hostile_counts_offsets_and_types_are_refused_without_allocating() {
    let patch = |at: usize, bytes: &[u8]| {
        let mut b = TINY.to_vec();
        b[at..at + bytes.len()].copy_from_slice(bytes);
        b
    };
    // A 2^60-element array: refused by the bytes left, before allocating.
    let count_at = after(b"t.strs") + 4 + 4;
    let e = open_bytes(&patch(count_at, &(1u64 << 60).to_le_bytes()), "count")
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("t.strs") && e.contains("cannot fit"), "{e}");
    // A 2^60 tensor count.
    let e = open_bytes(&patch(8, &(1u64 << 60).to_le_bytes()), "tensors")
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("tensor count"), "{e}");
    // A tensor whose offset points past the end of the file.
    let info = after(b"q8_0.weight");
    let off_at = info + 4 + 2 * 8 + 4;
    let e = open_bytes(&patch(off_at, &(1u64 << 40).to_le_bytes()), "offset")
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("q8_0.weight") && e.contains("past the end"),
        "{e}"
    );
    // An unknown ggml type.
    let e = open_bytes(&patch(info + 4 + 2 * 8, &77u32.to_le_bytes()), "type")
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("q8_0.weight") && e.contains("unknown ggml type 77"),
        "{e}"
    );
    // Dimensions whose product overflows.
    let e = open_bytes(&patch(info + 4, &u64::MAX.to_le_bytes()), "dims")
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("q8_0.weight"), "{e}");
    // Not a GGUF file; an unknown version.
    assert!(open_bytes(b"GGML\x03\0\0\0", "magic").is_err());
    let e = open_bytes(&patch(4, &9u32.to_le_bytes()), "version")
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("version 9"), "{e}");
}
