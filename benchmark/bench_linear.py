"""Benchmark: torch's F.linear against the oneDNN-packed weights multiscore's CPU layers run from.

At each linear shape of a model (MiniLM by default: q/k/v, output, MLP up with its GELU, MLP down),
in fp32 and bf16: F.linear (+ a separate GELU where the layer has one) vs ``Linear.pack()`` (+ the
GELU fused into the product), medians of ``--repeats`` runs in one process, GFLOP/s and the ratio.
The last column is what an int8 mode could reach at best: oneDNN's int8 product (VNNI / AMX-INT8;
uint8 activations quantized beforehand, per-channel int8 weights, fp32 out), no quantization cost.

    python benchmark/bench_linear.py [--rows 8192] [--hidden 384] [--intermediate 1536] [--markdown]
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from bench_common import machine_line, median_time, print_rows  # noqa: E402

from multiscore.layers.int8_linear import int8_problem  # noqa: E402
from multiscore.layers.linear import Linear, onednn_packing_problem  # noqa: E402


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=8192)
    p.add_argument("--hidden", type=int, default=384)
    p.add_argument("--intermediate", type=int, default=1536)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    print(machine_line())
    h, i = args.hidden, args.intermediate
    shapes = [("q/k/v", h, 3 * h, False), ("attention output", h, h, False), ("MLP up + GELU", h, i, True),
              ("MLP down", i, h, False)]
    rows = []
    cpu = torch.device("cpu")
    int8_refused = int8_problem(cpu, torch.float32)
    if int8_refused:
        print(f"int8 column left out: {int8_refused}")
    for dtype in (torch.float32, torch.bfloat16):
        if problem := onednn_packing_problem(cpu, dtype):
            print(f"{str(dtype).removeprefix('torch.')} rows left out: {problem}")
            continue
        for name, fan_in, fan_out, gelu in shapes:
            layer = Linear(fan_in, fan_out).to(dtype)
            x = torch.randn(args.rows, fan_in).to(dtype)
            act = ("gelu", "none") if gelu else ("none", "")
            with torch.inference_mode():
                plain = (lambda: F.gelu(F.linear(x, layer.weight, layer.bias))) if gelu else \
                    (lambda: F.linear(x, layer.weight, layer.bias))
                t_plain, _ = median_time(plain, args.repeats)
                layer.pack()
                t_packed, _ = median_time(lambda: layer(x, act), args.repeats)
            flop = 2 * args.rows * fan_in * fan_out
            rows.append((str(dtype).removeprefix("torch."), name, f"[{args.rows}x{fan_in}]·[{fan_in}x{fan_out}]",
                         f"{flop / t_plain / 1e9:.0f}", f"{flop / t_packed / 1e9:.0f}", f"{t_plain / t_packed:.2f}x",
                         "-" if int8_refused else
                         f"{flop / int8_product_time(args.rows, fan_in, fan_out, args.repeats) / 1e9:.0f}"))
    print_rows(("dtype", "layer", "product", "F.linear GFLOP/s", "packed GFLOP/s", "packed vs F.linear",
                "int8 GOP/s"), rows, args.markdown)


def int8_product_time(rows: int, fan_in: int, fan_out: int, repeats: int) -> float:
    """Seconds of oneDNN's u8 x s8 product [rows, in]·[in, out] -> fp32, operands quantized beforehand."""
    x, w = torch.randn(rows, fan_in), torch.randn(fan_out, fan_in)
    w_scale = w.abs().amax(1) / 127  # per output channel
    w_q = torch.round(w / w_scale[:, None]).to(torch.int8)
    x_scale = float(x.abs().max() / 127)
    x_q = torch.clamp(torch.round(x / x_scale) + 128, 0, 255).to(torch.uint8)  # zero point 128
    packed = torch.ops.onednn.qlinear_prepack(w_q, x_q.shape)
    zero_points = torch.zeros(fan_out, dtype=torch.long)
    t, _ = median_time(lambda: torch.ops.onednn.qlinear_pointwise(
        x_q, x_scale, 128, packed, w_scale, zero_points, None, 1.0, 0, torch.float32, "none", [], ""), repeats)
    return t


if __name__ == "__main__":
    main()
