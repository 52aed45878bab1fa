"""Benchmark: small requests arriving during a huge one, --schedule-policy fair vs fcfs, same run.

A tiny Qwen3 CausalLM (bench: scheduling, not arithmetic) behind an in-process Engine with MIS and
``--max-prefill-tokens 2048``: one huge MIS request of ``--huge-items`` items of 3 tokens (the row
"text items": short texts, which the server tokenizes); while it runs, 1-item requests are sent
one after another. Each row: the huge request's time, the small
requests' median and worst latency, and the worst as a fraction of the huge request's time.
Then W3 beside it: 1-item requests at ``--rate`` req/s (open-loop Poisson) for as long as the huge
request runs, their p50/p99, against the same traffic with no huge request.
Each engine calls ``freeze_gc()`` after its warm-up, as SGLang advises; the rows "GC not frozen"
run with ``--disable-gc-freeze`` and no ``freeze_gc()``: the garbage collector's pauses (gc_heap.py).

    python benchmark/bench_fairness.py [--huge-items 10000] [--small 20] [--markdown]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import pathlib
import statistics
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "benchmark"))
from bench_common import load_average, machine_line, print_rows  # noqa: E402
from make_tiny_model import make_tiny_model  # noqa: E402

LABELS = [5, 9, 42]


def start_engine(path, policy: str, huge_items: int, freeze: bool):
    from multiscore import Engine

    return Engine(str(path), device="cpu", enable_mis=True, max_prefill_tokens=2048, schedule_policy=policy,
                  max_items_per_request=max(10000, huge_items), disable_gc_freeze=not freeze)


def run(path, policy: str, huge_items: int, small: int, freeze: bool = True, text: bool = False):
    """``text``: the huge request's items are short texts, tokenized by the server (on its tokenizer thread)."""
    items = [[10 + i % 100, 11, 12] for i in range(huge_items)]
    query = [20, 21, 22, 23]
    if text:
        query, items = "the query about cities", [f"item number {i} about the city" for i in range(huge_items)]
    with start_engine(path, policy, huge_items, freeze) as engine:
        engine.score([20, 21], [[30]], label_token_ids=LABELS)  # warm-up
        if freeze:
            engine.freeze_gc()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            t0 = time.perf_counter()
            huge = pool.submit(engine.score, query, items, label_token_ids=LABELS)
            waits = []
            while not huge.done() and len(waits) < small:
                s0 = time.perf_counter()
                engine.score([30 + len(waits), 31], [[40, 41]], label_token_ids=LABELS)
                waits.append(time.perf_counter() - s0)
            huge.result()
            t_huge = time.perf_counter() - t0
    return t_huge, waits


async def _poisson(engine, rate: float, until, rng) -> list[float]:
    """1-item requests at Poisson arrivals while ``until()`` is False -> latencies (s)."""
    import asyncio

    tasks, latencies = [], []

    async def one(i):
        t0 = time.perf_counter()
        await engine.async_score([30 + i % 50, 31], [[40, 41]], label_token_ids=LABELS)
        latencies.append(time.perf_counter() - t0)

    while not until():
        tasks.append(asyncio.ensure_future(one(len(tasks))))
        await asyncio.sleep(rng.expovariate(rate))
    await asyncio.gather(*tasks)
    return latencies


def w3_beside(path, policy: str, huge_items: int, rate: float, beside: bool, freeze: bool = True):
    """-> (p50 ms, p99 ms, requests) of W3 traffic, with the huge request running or alone for as long."""
    import asyncio
    import random

    items = [[10 + i % 100, 11, 12] for i in range(huge_items)]
    rng = random.Random(0)
    with start_engine(path, policy, huge_items, freeze) as engine:
        engine.score([20, 21, 22, 23], items, label_token_ids=LABELS)  # warm-up: first-call allocations
        if freeze:
            engine.freeze_gc()
        t0 = time.perf_counter()
        engine.score([20, 21, 22, 23], items, label_token_ids=LABELS)
        duration = time.perf_counter() - t0
        warm_until = time.perf_counter() + 1.0  # the open-loop path warmed too (discarded)
        asyncio.run(_poisson(engine, rate, lambda: time.perf_counter() > warm_until, rng))
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            huge = pool.submit(engine.score, [20, 21, 22, 23], items, label_token_ids=LABELS) if beside else None
            start = time.perf_counter()
            until = (lambda: huge.done()) if beside else (lambda: time.perf_counter() - start > duration)
            lat = asyncio.run(_poisson(engine, rate, until, rng))
    lat_ms = sorted(x * 1e3 for x in lat)
    return lat_ms[len(lat_ms) // 2], lat_ms[min(len(lat_ms) - 1, int(0.99 * len(lat_ms)))], len(lat_ms)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--huge-items", type=int, default=10000)
    p.add_argument("--small", type=int, default=20, help="small requests sent while the huge one runs (at most)")
    p.add_argument("--rate", type=float, default=100.0, help="W3 requests per second beside the huge request")
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    print(machine_line())
    print(f"1-min load average before: {load_average()}; huge MIS request: {args.huge_items} items of 3 tokens, "
          "--max-prefill-tokens 2048; small: 1 item, sent one after another while the huge one runs")
    rows, w3 = [], []
    with tempfile.TemporaryDirectory() as tmp:
        path = make_tiny_model(pathlib.Path(tmp) / "m", arch="qwen3", head="causal")
        for policy, freeze, text in (("fcfs", True, False), ("fair", True, False), ("fair", False, False),
                                     ("fair", True, True)):
            t_huge, waits = run(path, policy, args.huge_items, args.small, freeze, text)
            label = policy + ("" if freeze else ", GC not frozen") + (", text items" if text else "")
            rows.append((label, f"{t_huge * 1e3:.0f}", str(len(waits)), f"{statistics.median(waits) * 1e3:.1f}",
                         f"{max(waits) * 1e3:.1f}", f"{max(waits) / t_huge:.3f}"))
        for policy, beside, freeze in (("fair", False, True), ("fcfs", True, True), ("fair", True, True),
                                       ("fair", True, False)):
            p50, p99, n = w3_beside(path, policy, args.huge_items, args.rate, beside, freeze)
            label = f"{policy}, {'beside the huge request' if beside else 'alone'}{'' if freeze else ', GC not frozen'}"
            w3.append((label, str(n), f"{p50:.1f}", f"{p99:.1f}"))
    header = ("policy", "huge request ms", "small requests answered during it", "small median ms", "small worst ms",
              "worst / huge time")
    print_rows(header, rows, args.markdown)
    print(f"\nW3 at {args.rate:g} req/s (1-item requests, open loop) for as long as the huge request runs:")
    print_rows(("traffic", "requests", "p50 ms", "p99 ms"), w3, args.markdown)
    print(f"1-min load average after: {load_average()}")


if __name__ == "__main__":
    main()
