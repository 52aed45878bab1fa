"""Benchmark: --compile (fused element-wise ops through torch.compile) against eager, in one worker.

One in-process ModelWorker on W1's model; the eager and compiled ops alternate on the same batches,
so machine noise hits both alike. Prints the compile + warm-up time, the two medians and the
largest score difference.

    python benchmark/bench_compile.py --dtype bfloat16 --mode mis
    python benchmark/bench_compile.py --dtype bfloat16 --mode single --repeats 3
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
import time

import torch

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from bench_common import machine_line, peak_rss_mib, print_rows  # noqa: E402
from bench_score import DELIMITER_ID, SHAPE, W4_SHAPE, build_checkpoint, make_workload  # noqa: E402

from multiscore.configs.model_config import ModelConfig  # noqa: E402
from multiscore.layers.fused_ops import EAGER  # noqa: E402
from multiscore.messages import PoolingParams  # noqa: E402
from multiscore.model_executor.forward_batch import ScoreSequence  # noqa: E402
from multiscore.model_executor.mis_layout import pack_mis  # noqa: E402
from multiscore.model_executor.model_worker import ModelWorker  # noqa: E402
from multiscore.server_args import ServerArgs  # noqa: E402


def batches(mode: str, q: int, n: int, L: int) -> list[list[ScoreSequence]]:
    query, items = make_workload(q, n, L)
    if mode == "mis":
        packed = pack_mis(query, items, DELIMITER_ID)
        return [[ScoreSequence("r", packed, 0, n, PoolingParams(), query_len=q, item_lens=[L] * n)]]
    seqs = [ScoreSequence("r", query + it, i, 1, PoolingParams()) for i, it in enumerate(items)]
    per_batch = 16384 // (q + L)  # the scheduler's default token budget
    return [seqs[i : i + per_batch] for i in range(0, n, per_batch)]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16"])
    p.add_argument("--mode", default="mis", choices=["mis", "single"])
    p.add_argument("--shape", default="w1", choices=["w1", "w4"])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    print(machine_line())
    path = build_checkpoint(pathlib.Path(tempfile.mkdtemp()), W4_SHAPE if args.shape == "w4" else SHAPE)
    rss_before = peak_rss_mib(os.getpid())
    t0 = time.perf_counter()
    server_args = ServerArgs(model_path=str(path), device="cpu", dtype=args.dtype, compile="on")
    worker = ModelWorker(server_args, ModelConfig.from_server_args(server_args))
    start_s = time.perf_counter() - t0
    print(f"start-up with --compile on: {start_s:.1f} s (compile + warm-up {worker.compile.seconds:.1f} s; "
          f"{worker.compile.reason}); peak RSS {rss_before:.0f} -> {peak_rss_mib(os.getpid()):.0f} MiB")
    work = batches(args.mode, 256, 64, 24)
    variants = {"eager": EAGER, "compiled": worker.model.model.ops}
    scores, times = {}, {name: [] for name in variants}
    for name, ops in variants.items():
        worker.model.use_fused_ops(ops)
        scores[name] = torch.cat([o for b in work for o in worker.forward(b)])
    for _ in range(args.repeats):
        for name, ops in variants.items():
            worker.model.use_fused_ops(ops)
            t = time.perf_counter()
            for b in work:
                worker.forward(b)
            times[name].append(time.perf_counter() - t)
    med = {name: sorted(ts)[len(ts) // 2] for name, ts in times.items()}
    print(f"W1 request (query 256, 64 items x 24), {args.mode}, {args.dtype}, median of {args.repeats} alternating repeats")
    print_rows(("ops", "ms / request", "vs eager"),
               [(name, f"{t * 1e3:.1f}", f"{med['eager'] / t:.2f}x") for name, t in med.items()], args.markdown)
    print(f"max |compiled - eager| score: {(scores['compiled'] - scores['eager']).abs().max().item():.2e}")


if __name__ == "__main__":
    main()
