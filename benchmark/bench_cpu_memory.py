"""Benchmark: the model process keeping freed tensor memory (the default) against
``--return-freed-memory`` (glibc's malloc defaults), on one in-process ModelWorker per variant.

malloc settings hold for a whole process, so each variant runs in its own interpreter; the two
alternate ``--rounds`` times per case, so machine noise hits both alike. Prints per case the
median time of one request (or, E1, of 512 sentences), the gain, page faults per request and
the process's peak RSS.

    python benchmark/bench_cpu_memory.py [--cases w1-mis-bf16,w1-single-bf16,w1-mis-fp32,e1-bf16] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from bench_common import machine_line, print_rows  # noqa: E402

# case -> (workload, mode, dtype, repeats per process)
CASES = {
    "w1-mis-bf16": ("w1", "mis", "bfloat16", 9),
    "w1-single-bf16": ("w1", "single", "bfloat16", 3),
    "w1-mis-fp32": ("w1", "mis", "float32", 7),
    "e1-bf16": ("e1", "embed", "bfloat16", 5),
    "w4-mis-bf16": ("w4", "mis", "bfloat16", 3),
}
VARIANTS = {"kept": {}, "returned": {"return_freed_memory": True}}  # the default; --return-freed-memory


def child_batches(workload: str, mode: str, checkpoints: pathlib.Path):
    """-> (model path, the batches of one request)."""
    from bench_compile import batches
    from bench_score import SHAPE, W4_SHAPE, build_checkpoint

    if workload == "e1":
        return e1_batches()
    path = checkpoints / workload
    if not (path / "config.json").exists():
        path.mkdir(parents=True, exist_ok=True)
        build_checkpoint(path, W4_SHAPE if workload == "w4" else SHAPE)
    return path, batches(mode, 256, 64, 24)


def e1_batches():
    """The real all-MiniLM-L6-v2 and bench_encoders' 512 sentences, in the scheduler's 16384-token batches."""
    from transformers import AutoTokenizer

    from bench_encoders import minilm_path, sentences
    from multiscore.messages import PoolingParams
    from multiscore.model_executor.forward_batch import ScoreSequence

    path = minilm_path()
    ids = AutoTokenizer.from_pretrained(path)(sentences(512, 8, 60, seed=1))["input_ids"]
    batches, current, tokens = [], [], 0
    for i, x in enumerate(ids):
        if current and tokens + len(x) > 16384:
            batches.append(current)
            current, tokens = [], 0
        current.append(ScoreSequence(str(i), x, 0, 1, PoolingParams(), token_type_ids=[0] * len(x)))
        tokens += len(x)
    return path, batches + [current]


def child(case: str, variant: str, checkpoints: pathlib.Path) -> None:
    from multiscore.configs.model_config import ModelConfig
    from multiscore.model_executor.model_worker import ModelWorker
    from multiscore.server_args import ServerArgs

    workload, mode, dtype, repeats = CASES[case]
    path, work = child_batches(workload, mode, checkpoints)
    server_args = ServerArgs(model_path=str(path), device="cpu", dtype=dtype, **VARIANTS[variant])
    worker = ModelWorker(server_args, ModelConfig.from_server_args(server_args))

    def request():
        for batch in work:
            worker.forward(batch)

    request()  # warm-up
    faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        request()
        seconds.append(time.perf_counter() - start)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": seconds, "faults": (usage.ru_minflt - faults_before) / repeats,
                      "peak_rss_mib": usage.ru_maxrss / 1024, "cpu_memory": worker.cpu_memory}))


def run_child(case: str, variant: str, checkpoints: pathlib.Path) -> dict:
    cmd = [sys.executable, __file__, "--child", case, variant, "--checkpoints", str(checkpoints)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{case} {variant} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default="w1-mis-bf16,w1-single-bf16,w1-mis-fp32,e1-bf16")
    p.add_argument("--rounds", type=int, default=2, help="alternating processes per variant and case")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--child", nargs=2, metavar=("CASE", "VARIANT"), help=argparse.SUPPRESS)
    p.add_argument("--checkpoints", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(*args.child, pathlib.Path(args.checkpoints))
        return
    print(machine_line())
    checkpoints = pathlib.Path(tempfile.mkdtemp())
    rows = []
    for case in args.cases.split(","):
        if case not in CASES:
            raise SystemExit(f"unknown case {case!r}; choose from {', '.join(CASES)}")
        runs = {name: [] for name in VARIANTS}
        for _ in range(args.rounds):
            for name in VARIANTS:
                runs[name].append(run_child(case, name, checkpoints))
        med = {name: sorted(s for r in rs for s in r["seconds"])[len(rs) * len(rs[0]["seconds"]) // 2]
               for name, rs in runs.items()}
        kept, returned = med
        rows.append((case, f"{med[kept] * 1e3:.1f}", f"{med[returned] * 1e3:.1f}", f"{med[returned] / med[kept]:.2f}x",
                     " / ".join(f"{max(r['faults'] for r in runs[n]):.0f}" for n in VARIANTS),
                     " / ".join(f"{max(r['peak_rss_mib'] for r in runs[n]):.0f}" for n in VARIANTS)))
    print(f"median ms per request over {args.rounds} alternating processes per variant")
    print_rows(("case", "kept (default) ms", "--return-freed-memory ms", "gain", "page faults / request (kept / returned)",
                "peak RSS MiB (kept / returned)"), rows, args.markdown)


if __name__ == "__main__":
    main()
