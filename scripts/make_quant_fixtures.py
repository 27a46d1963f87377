"""Goldens for weir's quantized formats, made by the reference of the `gguf`
PyPI package (gguf-py, llama.cpp's own Python library), never by weir.

Writes tests/data/quant/:
  {fmt}.blocks   the blocks (bytes exactly as a GGUF file stores them)
  {fmt}.f32      gguf-py's dequantization of them, little-endian f32
  q8_0.src.f32   the f32 values gguf-py quantized into q8_0.blocks

Q8_0 blocks are gguf-py's quantization of random values (so weir's
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
from gguf import quants

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


if __name__ == "__main__":
    main()
