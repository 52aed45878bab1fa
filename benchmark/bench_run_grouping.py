"""Benchmark: the torch backend's plain runs (encoder sequences, single-item decoder sequences) grouped
into SDPA calls of up to 16 similar-length runs with a padding mask, against the rule that takes runs of
``_SOLO_RUN_LEN`` tokens or more out of mixed-length calls (a call each, on a view of the packed rows).

One attention layer (``TorchAttentionBackend.forward``) per case, the two policies interleaved in one
process (``_SOLO_RUN_LEN`` set to infinity gives the grouping alone), median of ``--repeats`` after one
warm-up; fp32, random q/k/v.

    python benchmark/bench_run_grouping.py [--repeats 7] [--markdown]
"""

from __future__ import annotations

import argparse
import pathlib
import random
import statistics
import sys
import time

import torch

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from bench_common import load_average, machine_line, print_rows  # noqa: E402

import multiscore.layers.attention.torch_backend as torch_backend  # noqa: E402
from multiscore.layers.attention.base import SequenceLayout  # noqa: E402

RULE = torch_backend._SOLO_RUN_LEN


def cases():
    rng = random.Random(1234)
    return [
        ("64 proteins of 52..402 tokens, 20 heads of 24 (ESM-2 35M)", [rng.randint(52, 402) for _ in range(64)], 20, 24, False),
        ("32 documents of 100..512, 12 heads of 64 (BERT-base)", [rng.randint(100, 512) for _ in range(32)], 12, 64, False),
        ("64 query-passage pairs of 30..120, 12 heads of 64", [rng.randint(30, 120) for _ in range(64)], 12, 64, False),
        ("256 texts of 24..64, 12 heads of 64", [rng.randint(24, 64) for _ in range(256)], 12, 64, False),
        ("512 texts of 8..24, 12 heads of 64", [rng.randint(8, 24) for _ in range(512)], 12, 64, False),
        ("64 causal query+item runs of 260..290, 8 heads of 64", [rng.randint(260, 290) for _ in range(64)], 8, 64, True),
    ]


def one_layer(lens, heads, dim, causal, solo_len: int) -> float:
    torch_backend._SOLO_RUN_LEN = solo_len
    starts = [sum(lens[:i]) for i in range(len(lens))]
    backend = torch_backend.TorchAttentionBackend(torch.device("cpu"), torch.float32, heads, heads, dim)
    meta = backend.build_metadata([SequenceLayout(start=s, length=n) for s, n in zip(starts, lens)], causal=causal)
    q, k, v = (torch.randn(sum(lens), heads, dim, generator=torch.Generator().manual_seed(i)) for i in range(3))
    t0 = time.perf_counter()
    backend.forward(q, k, v, meta, dim**-0.5)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    rows = []
    for name, lens, heads, dim, causal in cases():
        grouped, rule = [], []
        for _ in range(args.repeats + 1):  # interleaved; the first pair is the warm-up
            grouped.append(one_layer(lens, heads, dim, causal, 10**9))
            rule.append(one_layer(lens, heads, dim, causal, RULE))
        g, r = statistics.median(grouped[1:]) * 1000, statistics.median(rule[1:]) * 1000
        rows.append([name, f"{g:.1f}", f"{r:.1f}", f"{g / r:.2f}x"])
    torch_backend._SOLO_RUN_LEN = RULE
    print(f"# one attention layer, fp32, median of {args.repeats}; _SOLO_RUN_LEN {RULE}; load {load_average()}")
    print(f"# {machine_line()}")
    print_rows(["runs", "grouped ms", "with the rule ms", "speed-up"], rows, args.markdown)


if __name__ == "__main__":
    main()
