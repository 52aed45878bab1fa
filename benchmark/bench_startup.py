"""Start-up time: how long a user waits before the first request can be served.

Rows, each a fresh process (median of ``--repeats``, the variants alternating so that a slow phase of
the machine hits all of them):

- ``import torch, transformers``: the floor — the imports every model process pays;
- ``Engine()``: ``python -c "from multiscore import Engine; Engine(path).shutdown()"``, interpreter
  start to shut down (the engine's own scheduler process included);
- ``launch_server``: the process started until ``GET /health`` answers 200;
- ``launch_server --dp-size 2 --num-threads 1``: the same with two model replicas.

``--baseline-pythonpath DIR`` runs every row a second time with ``PYTHONPATH=DIR`` (the ``python/``
folder of another checkout, e.g. ``git worktree add /tmp/before <commit>``), so two versions are
compared in one run.

    python benchmark/bench_startup.py [--model-path DIR] [--repeats 5] [--baseline-pythonpath /tmp/before/python] [--markdown]

Default model: a tiny Qwen3 classifier (hidden 64, 2 layers): start-up without the weights' I/O.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "scripts"))
sys.path.insert(0, str(HERE))
from bench_common import load_average, machine_line, print_rows  # noqa: E402
from server_process import ServerProcess  # noqa: E402


def _timed_python(code: str, env: dict) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, **env},
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _timed_server(args: list[str], env: dict) -> float:
    start = time.perf_counter()
    server = ServerProcess(args, env=env)
    try:
        server.wait_ready(timeout_s=300)
        return time.perf_counter() - start
    finally:
        server.stop()


def _rows(model_path: str):
    """(name, measure(env) -> seconds)"""
    return [
        ("import torch, transformers", lambda env: _timed_python("import torch, transformers", env)),
        ("Engine()", lambda env: _timed_python(
            f"from multiscore import Engine; Engine({model_path!r}, num_threads=1).shutdown()", env)),
        ("launch_server", lambda env: _timed_server(["--model-path", model_path], env)),
        ("launch_server --dp-size 2 --num-threads 1", lambda env: _timed_server(
            ["--model-path", model_path, "--dp-size", "2", "--num-threads", "1"], env)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-path", default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline-pythonpath", default=None,
                        help="the python/ folder of another checkout, measured in the same run")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    model_path = args.model_path
    if model_path is None:
        from make_tiny_model import make_tiny_model

        model_path = str(make_tiny_model(pathlib.Path(tempfile.mkdtemp(prefix="bench-startup-")), arch="qwen3",
                                         head="seqcls"))
    versions = {"this checkout": {}}
    if args.baseline_pythonpath:
        versions["baseline"] = {"PYTHONPATH": str(pathlib.Path(args.baseline_pythonpath).resolve())}
    rows = _rows(model_path)
    times = {(name, version): [] for name, _ in rows for version in versions}
    for _ in range(args.repeats):
        for name, measure in rows:
            for version, env in versions.items():
                times[name, version].append(measure(env))
    print(machine_line())
    print(f"model {model_path}; median of {args.repeats}; load average {load_average()}")
    header = ["start-up (s)"] + list(versions) + (["baseline / this"] if len(versions) > 1 else [])
    body = []
    for name, _ in rows:
        medians = [statistics.median(times[name, v]) for v in versions]
        spread = [f"{m:.2f} ({min(times[name, v]):.2f}–{max(times[name, v]):.2f})" for m, v in zip(medians, versions)]
        body.append([name, *spread] + ([f"{medians[1] / medians[0]:.2f}x"] if len(medians) > 1 else []))
    print_rows(header, body, args.markdown)


if __name__ == "__main__":
    main()
