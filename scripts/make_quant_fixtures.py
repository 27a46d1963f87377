"""Goldens for weir's quantized formats, made by the reference of the `gguf`
PyPI package (gguf-py, llama.cpp's own Python library), never by weir.

Writes tests/data/quant/:
  {fmt}.blocks   the blocks (bytes exactly as a GGUF file stores them), for
                 q8_0, q5_0, q4_0, q4_k, q5_k, q6_k
  {fmt}.f32      gguf-py's dequantization of them, little-endian f32
  q8_0.src.f32   the f32 values gguf-py quantized into q8_0.blocks
and tests/data/gguf/tiny.gguf, written by gguf-py's GGUFWriter: metadata of
every value type, and tensors of F32, F16, BF16, Q8_0, Q4_K and Q6_K (the
blocks above) and Q3_K (not read by weir: its error is tested).
Its F32/F16/BF16 values are i * 0.25 - 3 for element i (exact in all three).

Q8_0, Q5_0 and Q4_0 blocks are gguf-py's quantization of random values (so weir's
quantizer is checked against it bit for bit too). K-quant blocks are random
bytes with finite f16 scales: gguf-py has no K-quant quantizer, and the
dequantizer must be right for every block a file can hold, not only for
blocks one quantizer makes.

Run from the repository root: .venv/bin/python scripts/make_quant_fixtures.py
(pinned: gguf==0.19.0, numpy as in requirements-models.txt).
"""
import pathlib

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFWriter, quants

OUT = pathlib.Path("tests/data/quant")
ROWS, COLS = 6, 512
rng = np.random.default_rng(20261207)


def write(name, blocks, values):
    (OUT / f"{name}.blocks").write_bytes(np.ascontiguousarray(blocks).tobytes())
    (OUT / f"{name}.f32").write_bytes(values.astype("<f4").tobytes())


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    # Q8_0: rows of different magnitudes, one all zero, one with exact ties.
    src = rng.standard_normal((ROWS, COLS)).astype(np.float32)
    src[1] *= 40.0
    src[2] = 0.0
    src[3] = np.round(src[3] * 8.0) / 8.0
    blocks = quants.quantize(src, T.Q8_0)
    (OUT / "q8_0.src.f32").write_bytes(src.astype("<f4").tobytes())
    write("q8_0", blocks, quants.dequantize(blocks, T.Q8_0))

    # Q4_K: 144-byte super-blocks of random bytes, d and dmin set to finite
    # f16 values of mixed sign and size.
    n_blocks = ROWS * COLS // 256
    raw = rng.integers(0, 256, size=(n_blocks, 144), dtype=np.uint8)
    d = (rng.standard_normal(n_blocks) * 0.05).astype(np.float16)
    dmin = (rng.standard_normal(n_blocks) * 0.02).astype(np.float16)
    raw[:, 0:2] = d.view(np.uint8).reshape(n_blocks, 2)
    raw[:, 2:4] = dmin.view(np.uint8).reshape(n_blocks, 2)
    blocks = raw.reshape(ROWS, COLS // 256 * 144)
    write("q4_k", blocks, quants.dequantize(blocks, T.Q4_K))

    # Q5_0, Q4_0: gguf-py's quantizer on the same kind of rows.
    for name, ty in [("q5_0", T.Q5_0), ("q4_0", T.Q4_0)]:
        blocks = quants.quantize(src, ty)
        write(name, blocks, quants.dequantize(blocks, ty))

    # Q5_K (d, dmin first) and Q6_K (d last): random bytes, finite scales.
    raw = rng.integers(0, 256, size=(n_blocks, 176), dtype=np.uint8)
    raw[:, 0:2] = (rng.standard_normal(n_blocks) * 0.05).astype(np.float16).view(np.uint8).reshape(n_blocks, 2)
    raw[:, 2:4] = (rng.standard_normal(n_blocks) * 0.02).astype(np.float16).view(np.uint8).reshape(n_blocks, 2)
    blocks = raw.reshape(ROWS, COLS // 256 * 176)
    write("q5_k", blocks, quants.dequantize(blocks, T.Q5_K))
    raw = rng.integers(0, 256, size=(n_blocks, 210), dtype=np.uint8)
    raw[:, 208:210] = (rng.standard_normal(n_blocks) * 0.01).astype(np.float16).view(np.uint8).reshape(n_blocks, 2)
    blocks = raw.reshape(ROWS, COLS // 256 * 210)
    write("q6_k", blocks, quants.dequantize(blocks, T.Q6_K))
    write_gguf()


def write_gguf():
    out = pathlib.Path("tests/data/gguf")
    out.mkdir(parents=True, exist_ok=True)
    w = GGUFWriter(str(out / "tiny.gguf"), arch="llama")
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -100)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4000000000)
    w.add_int32("t.i32", -2000000000)
    w.add_float32("t.f32", 0.5)
    w.add_bool("t.bool", True)
    w.add_string("t.str", "héllo")
    w.add_uint64("t.u64", 2**60)
    w.add_int64("t.i64", -(2**60))
    w.add_float64("t.f64", -1.25)
    w.add_array("t.strs", ["a", "bc", ""])
    w.add_array("t.ints", [1, -2, 3])
    ramp = lambda n: (np.arange(n, dtype=np.float32) * 0.25 - 3.0)
    w.add_tensor("f32.weight", ramp(3 * 64).reshape(3, 64))
    w.add_tensor("f16.weight", ramp(2 * 32).reshape(2, 32).astype(np.float16))
    bf = quants.quantize(ramp(2 * 32).reshape(2, 32), T.BF16)
    w.add_tensor("bf16.weight", bf, raw_dtype=T.BF16)
    w.add_tensor("norm.weight", ramp(64))
    q8 = np.frombuffer((OUT / "q8_0.blocks").read_bytes(), dtype=np.uint8).reshape(ROWS, -1)
    w.add_tensor("q8_0.weight", q8, raw_dtype=T.Q8_0)
    q4 = np.frombuffer((OUT / "q4_k.blocks").read_bytes(), dtype=np.uint8).reshape(ROWS, -1)
    w.add_tensor("q4_k.weight", q4, raw_dtype=T.Q4_K)
    q6 = np.frombuffer((OUT / "q6_k.blocks").read_bytes(), dtype=np.uint8).reshape(ROWS, -1)
    w.add_tensor("q6_k.weight", q6, raw_dtype=T.Q6_K)
    q3 = rng.integers(0, 256, size=(1, 110), dtype=np.uint8)
    w.add_tensor("q3_k.weight", q3, raw_dtype=T.Q3_K)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
