"""Benchmark: ``--dp-size 2 --num-threads 1`` vs ``--dp-size 1 --num-threads 2``, same machine, same run.

W3's traffic (bench_serving.py: a tiny Qwen3 classifier behind a real ``launch_server`` with MIS,
1-item requests under open-loop Poisson load) at each rate of ``--rates``, then bisected for the
highest rate with p99 <= 100 ms; and the latency of one 2,000-item MIS request (split across the
replicas with --dp-size 2).

    python benchmark/bench_replicas.py [--rates 100,200,400,600,800] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import random
import sys
import tempfile
import time

import orjson

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "scripts"))
sys.path.insert(0, str(HERE))
import bench_serving  # noqa: E402
from bench_common import load_average, machine_line, print_rows  # noqa: E402
from http_load import HttpPool  # noqa: E402
from server_process import ServerProcess  # noqa: E402

CONFIGS = (("--dp-size 1 --num-threads 2", ["--dp-size", "1", "--num-threads", "2"]),
           ("--dp-size 2 --num-threads 1", ["--dp-size", "2", "--num-threads", "1"]))
BIG_ITEMS = 2000


async def measure(model_path: str, delimiter: int, flags: list[str], args, log: pathlib.Path) -> dict:
    rng = random.Random(0)
    server = ServerProcess(["--model-path", model_path, "--log-level", "warning", "--device", "cpu",
                            "--multi-item-scoring-delimiter", str(delimiter), *flags], log_path=log)
    pool = HttpPool(server.host, server.port)
    try:
        server.wait_ready(timeout_s=180.0)
        await pool.warm(8)
        for body, _ in bench_serving.payloads_for(args, rng, 30):
            await pool.request("POST", "/v1/score", body)
        rows = [await bench_serving.rate_run(pool, float(r), args, rng) for r in args.rates.split(",")]
        rows += await bench_serving.find_max_rate(pool, rows, args, rng)
        passing = [float(r["name"]) for r in rows if bench_serving.meets_slo(r)]
        items = [" ".join(rng.choices(bench_serving.ITEM_WORDS, k=3)) for _ in range(BIG_ITEMS)]
        big = orjson.dumps({"query": bench_serving.QUERY, "items": items})
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            status, _ = await pool.request("POST", "/v1/score", big)
            times.append(time.perf_counter() - t0)
            assert status == 200
        return {"max_rate": max(passing, default=0.0), "big_ms": sorted(times)[1] * 1e3,
                "p99_at": {r["name"]: r["p99"] for r in rows}}
    finally:
        await pool.close()
        server.stop()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rates", default="100,200,400,600,800")
    p.add_argument("--markdown", action="store_true")
    ours = p.parse_args(argv)
    args = bench_serving.parse_args(["--rates", ours.rates])
    print(machine_line())
    print(f"1-min load average before: {load_average()}; 1-item requests, SLO p99 <= {bench_serving.SLO_P99_MS:g} ms; "
          f"one {BIG_ITEMS}-item MIS request (median of 3)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model_path, delimiter = bench_serving.resolve_model(args, pathlib.Path(tmp))
        for name, flags in CONFIGS:
            res = asyncio.run(measure(model_path, delimiter, flags, args, pathlib.Path(tmp) / "server.log"))
            rows.append((name, f"{res['max_rate']:g}", f"{res['big_ms']:.0f}"))
    print_rows(("configuration", "highest rate with p99 <= 100 ms (req/s)", f"{BIG_ITEMS}-item MIS request ms"), rows,
               ours.markdown)
    print(f"1-min load average after: {load_average()}")


if __name__ == "__main__":
    main()
