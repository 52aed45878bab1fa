"""Benchmark: what a quantized checkpoint costs and changes when multiscore serves it, in the same run.

W1's model (a Qwen3-shaped ``Qwen3ForSequenceClassification``: hidden 512, intermediate 1536, 6 layers;
bench_score.py) and its request (query 256, 64 items x 24, MIS), served through the ``Engine`` from:

- the 16/32-bit checkpoint (the baseline);
- ``fp8``: block-scaled FP8 weights (``quant_method: fp8``, blocks of 128: DeepSeek-V3's / Qwen3 -FP8's),
  dequantized as they load: the products are the baseline's, so only the scores move;
- compressed-tensors ``FP8-dynamic`` (FP8 weights per channel, each product's input quantized per token),
  ``FP8-block`` (weights per 128 x 128 block, inputs per group of 16 columns) and ``int8 W8A8`` (int8
  weights per channel, inputs per token): the activation rounding runs before every body product.

Each row: the MIS request's median time and its ratio to the baseline's, and the largest score change
against the baseline (what the quantization itself does to the scores). Times include the Engine's
tokenization-free request path (token ids are sent).

    python benchmark/bench_quantized_checkpoints.py [--dtype float32|bfloat16] [--repeats 5] [--markdown]
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "benchmark"))
from bench_common import load_average, machine_line, print_rows  # noqa: E402
from bench_score import DELIMITER_ID, SHAPE, bench_engine, build_checkpoint, make_workload  # noqa: E402
from quantized_checkpoints import write_compressed_tensors, write_fp8  # noqa: E402

VARIANTS = (
    ("fp8 (block 128, weights only)", lambda src, dst: write_fp8(src, dst, block=128)),
    ("compressed-tensors FP8-dynamic (W8A8)", lambda src, dst: write_compressed_tensors(src, dst, "float", "channel")),
    ("compressed-tensors FP8-block (W8A8)", lambda src, dst: write_compressed_tensors(src, dst, "float", "block", block=128)),
    ("compressed-tensors int8 W8A8", lambda src, dst: write_compressed_tensors(src, dst, "int", "channel")),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()

    query, items = make_workload(256, 64, 24)
    with tempfile.TemporaryDirectory() as tmp:
        base = build_checkpoint(pathlib.Path(tmp) / "base", SHAPE)
        t_base, s_base = bench_engine(base, query, items, args.repeats, DELIMITER_ID, args.dtype)
        rows = [["16/32-bit checkpoint (baseline)", f"{t_base * 1000:.1f}", "1.00x", "0"]]
        for i, (name, write) in enumerate(VARIANTS):
            path = write(base, pathlib.Path(tmp) / f"q{i}")
            t, s = bench_engine(path, query, items, args.repeats, DELIMITER_ID, args.dtype)
            rows.append([name, f"{t * 1000:.1f}", f"{t / t_base:.2f}x", f"{(s - s_base).abs().max().item():.2e}"])
    span = (s_base.max() - s_base.min()).item()
    print(f"# W1's model, query 256 + 64 items x 24, MIS, {args.dtype}, median of {args.repeats}; load {load_average()}")
    print(f"# {machine_line()}")
    print_rows(["checkpoint", "ms / request", "vs baseline", f"max |score change| (baseline span {span:.2f})"],
               rows, args.markdown)


if __name__ == "__main__":
    main()
