"""Benchmark: --compile (fused element-wise ops through torch.compile) against eager, in one worker;
or (``--compare linear``) oneDNN-packed linear weights against F.linear, in two workers (whatever
the worker would choose on this CPU).

In-process ModelWorkers on W1's model; the two variants alternate on the same batches, so machine
noise hits both alike. Prints the start-up (compile + warm-up) time, the two medians and the
largest score difference.

    python benchmark/bench_compile.py --dtype bfloat16 --mode mis
    python benchmark/bench_compile.py --dtype bfloat16 --mode single --repeats 3
    python benchmark/bench_compile.py --compare linear --dtype float32 --mode mis
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
from multiscore.model_executor import model_worker  # noqa: E402
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
    p.add_argument("--compare", default="compile", choices=["compile", "linear"])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    print(machine_line())
    path = build_checkpoint(pathlib.Path(tempfile.mkdtemp()), W4_SHAPE if args.shape == "w4" else SHAPE)
    work = batches(args.mode, 256, 64, 24)
    if args.compare == "compile":
        workers = compile_variants(path, args.dtype)
    else:
        workers = linear_variants(path, args.dtype)
    scores, times = {}, {name: [] for name in workers}
    for name, run in workers.items():
        scores[name] = torch.cat([o for b in work for o in run(b)])
    for _ in range(args.repeats):
        for name, run in workers.items():
            t = time.perf_counter()
            for b in work:
                run(b)
            times[name].append(time.perf_counter() - t)
    med = {name: sorted(ts)[len(ts) // 2] for name, ts in times.items()}
    print(f"W1 request (query 256, 64 items x 24), {args.mode}, {args.dtype}, median of {args.repeats} alternating repeats")
    base, new = list(med)
    print_rows(("variant", "ms / request", f"vs {base}"),
               [(name, f"{t * 1e3:.1f}", f"{med[base] / t:.2f}x") for name, t in med.items()], args.markdown)
    print(f"max |{new} - {base}| score: {(scores[new] - scores[base]).abs().max().item():.2e}")


def compile_variants(path, dtype: str) -> dict:
    """One worker with --compile on; its model switches between the eager and the compiled ops."""
    rss_before = peak_rss_mib(os.getpid())
    t0 = time.perf_counter()
    server_args = ServerArgs(model_path=str(path), device="cpu", dtype=dtype, compile="on")
    worker = ModelWorker(server_args, ModelConfig.from_server_args(server_args))
    start_s = time.perf_counter() - t0
    print(f"start-up with --compile on: {start_s:.1f} s (compile + warm-up {worker.compile.seconds:.1f} s; "
          f"{worker.compile.reason}); peak RSS {rss_before:.0f} -> {peak_rss_mib(os.getpid()):.0f} MiB")

    def with_ops(ops):
        def run(batch):
            worker.model.use_fused_ops(ops)
            return worker.forward(batch)
        return run

    return {"eager": with_ops(EAGER), "compiled": with_ops(worker.model.model.ops)}


def linear_variants(path, dtype: str) -> dict:
    """Two workers, --compile auto: F.linear (packing refused, as on a torch build without oneDNN) and
    packed (forced, as where the worker would choose F.linear: float32 on an AVX2 CPU)."""
    server_args = ServerArgs(model_path=str(path), device="cpu", dtype=dtype)
    config = ModelConfig.from_server_args(server_args)
    probe = model_worker.onednn_packing_problem
    print(f"the worker's own choice here: {probe(torch.device('cpu'), getattr(torch, dtype)) or 'packed'}")
    model_worker.onednn_packing_problem = lambda device, dtype: "refused by bench_compile.py"
    plain = ModelWorker(server_args, config)
    model_worker.onednn_packing_problem = lambda device, dtype: None
    packed = ModelWorker(server_args, config)
    model_worker.onednn_packing_problem = probe
    print(f"{plain.linear_kernel} vs {packed.linear_kernel}")
    return {"F.linear": plain.forward, "packed": packed.forward}


if __name__ == "__main__":
    main()
