"""Benchmark W3: open-loop load against a real ``launch_server`` (MIS on), then the in-process Engine.

Poisson arrivals at each rate in ``--rates`` (req/s), 1-item requests (an ~8-word text query, one
short item). Per rate: successes, failures, p50/p90/p99 latency, items/s, and the scheduler's
tokens and sequences per forward pass over the run (``/get_server_info`` counters, after - before).
Then mixed traffic (80 % 1-item, 20 % 10-item requests) at ``--mixed-rate`` and as one burst, to
show that concurrent requests share forward passes. Finally, with the server stopped (one model
process at a time on a small machine), the lowest-rate run is replayed through the in-process
Engine (same requests, same gaps): server overhead = server p50 there - the Engine's p50.

    python benchmark/bench_serving.py [--rates 5,20,50,100,200,400] [--max-duration 3]
        [--num-requests 2000] [--model-path DIR --delimiter ID] [--find-max-rate] [--num-threads 1] [--markdown]

GPU configuration (``--gpu-sglang``), mirroring SGLang's scoring benchmark: a Qwen3-0.6B-shaped
``Qwen3ForSequenceClassification`` with random weights in bfloat16 on CUDA (FlashInfer attention
unless ``--attention-backend torch``), requests of a 120-token query and 10 items of 180 tokens
(random token ids), open-loop Poisson load, SLO p99 <= 500 ms; it reports the items/s of the
highest rate within the SLO next to SGLang's published 1,200 items/s per H100, and, with the server
stopped, ``transformers`` on the same device and requests (closed loop: one request = one batch of
its 10 query+item pairs, then 8 requests per batch; ``--no-transformers`` skips it)::

    python benchmark/bench_serving.py --gpu-sglang --rates 10,20,40,80,120,160 --find-max-rate
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import random
import statistics
import sys
import tempfile
import time

import orjson

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "scripts"))
sys.path.insert(0, str(HERE))
from bench_common import cpu_model, load_average, print_rows  # noqa: E402
from http_load import HttpPool, open_loop, percentile, poisson_schedule  # noqa: E402
from server_process import ServerProcess  # noqa: E402

SLO_P99_MS = 100.0  # CPU workload; --gpu-sglang uses GPU_SLO_P99_MS
GPU_SLO_P99_MS = 500.0
SGLANG_PUBLISHED_ITEMS_S = 1200.0  # SGLang's scoring benchmark, per H100 (its published figure)
# Qwen3-0.6B's shape (random weights): what SGLang's scoring benchmark serves.
QWEN3_0_6B = dict(vocab_size=151936, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
                  num_attention_heads=16, num_key_value_heads=8, head_dim=128, max_position_embeddings=40960)
GPU_QUERY_TOKENS, GPU_ITEMS, GPU_ITEM_TOKENS = 120, 10, 180
GPU_DELIMITER = 151643  # Qwen3's <|endoftext|>, kept out of the random ids
OVERHEAD_TARGET_MS = 3.0
QUERY = "what is the capital city of the state california"  # 8 words
ITEM_WORDS = "sacramento los angeles san francisco river mountain lake ocean coast valley desert".split()


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rates", default="5,20,50,100,200,400", help="comma-separated request rates (req/s)")
    p.add_argument("--num-requests", type=int, default=2000, help="at most this many requests per rate")
    p.add_argument("--max-duration", type=float, default=3.0, help="seconds of arrivals per rate")
    p.add_argument("--min-requests", type=int, default=60,
                   help="stretch a low rate's duration to expect this many (its p50 needs samples)")
    p.add_argument("--items-per-request", type=int, default=1)
    p.add_argument("--mixed-rate", type=float, default=100.0, help="req/s of the mixed-traffic phase")
    p.add_argument("--mixed-items", type=int, default=10, help="items in the large requests of the mix")
    p.add_argument("--mixed-fraction", type=float, default=0.2, help="share of large requests in the mix")
    p.add_argument("--burst", type=int, default=64, help="requests sent at one instant (mixed as above)")
    p.add_argument("--engine-repeats", type=int, default=200, help="sequential Engine calls timed")
    p.add_argument("--find-max-rate", action="store_true", help="bisect between tested rates for the SLO")
    p.add_argument("--model-path", default=None, help="existing checkpoint (default: a tiny qwen3 seqcls)")
    p.add_argument("--delimiter", type=int, default=None, help="MIS delimiter id (default: <|sep|> in the tokenizer)")
    p.add_argument("--num-threads", type=int, default=1,
                   help="--num-threads of the server and the Engine: a tiny model gains nothing from a second "
                   "intra-op thread, and on a 2-core machine it competes with the HTTP process and the client")
    p.add_argument("--gpu-sglang", action="store_true",
                   help="the GPU configuration of SGLang's scoring benchmark (see the module docstring)")
    p.add_argument("--attention-backend", default=None, help="with --gpu-sglang: flashinfer (default) or torch")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"],
                   help="with --gpu-sglang: cpu only dry-runs its plumbing (scripts/gpu_check.sh); no figure from it")
    p.add_argument("--no-transformers", action="store_true",
                   help="with --gpu-sglang: skip the transformers baseline (run once per device, not per backend)")
    p.add_argument("--stop-after-miss", action="store_true",
                   help="stop the rate ladder at the first rate that misses the SLO (an overloaded run drains slowly)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--server-flag", action="append", default=[], metavar="FLAG",
                   help="one more flag for the server (repeatable), e.g. --server-flag=--disable-gc-freeze")
    p.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    return p.parse_args(argv)


# ---- workload ---------------------------------------------------------------------------------

def make_payloads(rng: random.Random, n: int, items_per_request: int, large_items: int = 0,
                  large_fraction: float = 0.0) -> list[tuple[bytes, int]]:
    """``n`` request bodies (JSON bytes, item count); short random items so requests are not identical."""
    out = []
    for _ in range(n):
        k = large_items if rng.random() < large_fraction else items_per_request
        items = [" ".join(rng.choices(ITEM_WORDS, k=3)) for _ in range(k)]
        out.append((orjson.dumps({"query": QUERY, "items": items}), k))
    return out


def sglang_payloads(rng: random.Random, n: int) -> list[tuple[bytes, int]]:
    """--gpu-sglang requests: a 120-token query and 10 items of 180 tokens, random ids."""
    def ids(k: int) -> list[int]:
        return [rng.randrange(1000, 150000) for _ in range(k)]

    return [(orjson.dumps({"query": ids(GPU_QUERY_TOKENS), "items": [ids(GPU_ITEM_TOKENS) for _ in range(GPU_ITEMS)]}),
             GPU_ITEMS) for _ in range(n)]


def payloads_for(args, rng: random.Random, n: int, large_fraction: float = 0.0) -> list[tuple[bytes, int]]:
    if args.gpu_sglang:
        return sglang_payloads(rng, n)
    return make_payloads(rng, n, args.items_per_request, args.mixed_items, large_fraction)


def build_qwen3_0_6b(out: pathlib.Path, device: str = "cpu") -> str:
    """A Qwen3-0.6B-shaped classifier with seeded random weights, saved in bfloat16 (initialised on
    ``device``: on a GPU in seconds)."""
    import torch
    from transformers import AutoModelForSequenceClassification, Qwen3Config

    from make_tiny_model import build_tokenizer

    config = Qwen3Config(**QWEN3_0_6B, num_labels=1, tie_word_embeddings=False, pad_token_id=0,
                         architectures=["Qwen3ForSequenceClassification"])
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForSequenceClassification.from_config(config).to(torch.bfloat16)
    model.save_pretrained(out)
    build_tokenizer("qwen3").save_pretrained(out)  # requests are token ids; its vocabulary is unused
    return str(out)


def resolve_model(args, tmp: pathlib.Path) -> tuple[str, int]:
    from make_tiny_model import delimiter_id, make_tiny_model

    if args.gpu_sglang:
        return args.model_path or build_qwen3_0_6b(tmp / "qwen3-0.6b-shape", args.device), args.delimiter or GPU_DELIMITER
    path = args.model_path or str(make_tiny_model(tmp / "tiny", arch="qwen3", head="seqcls", num_labels=3))
    if args.delimiter is not None:
        return path, args.delimiter
    try:
        return path, delimiter_id(path)
    except (OSError, KeyError):
        sys.exit(f"{path} has no <|sep|> token: pass --delimiter TOKEN_ID")


# ---- measurements -----------------------------------------------------------------------------

async def measured_run(pool: HttpPool, name: str, payloads, arrivals) -> dict:
    """One open-loop run plus the scheduler counters it moved."""
    before = (await pool.get_json("/get_server_info"))["scheduler"]
    res = await open_loop(pool, "/v1/score", payloads, arrivals)
    after = (await pool.get_json("/get_server_info"))["scheduler"]
    moved = {k: after[k] - before[k] for k in ("forward_passes", "forward_tokens", "forward_sequences")}
    passes = max(1, moved["forward_passes"])
    lat_ms = [x * 1e3 for x in res.latencies_s]
    return {
        "name": name, "sent": res.sent, "ok": len(res.latencies_s), "fail": len(res.errors),
        "p50": percentile(lat_ms, 50), "p90": percentile(lat_ms, 90), "p99": percentile(lat_ms, 99),
        "req_s": len(lat_ms) / res.duration_s if res.duration_s else 0.0,
        "items_s": res.items_ok / res.duration_s if res.duration_s else 0.0,
        "tok_pass": moved["forward_tokens"] / passes, "seq_pass": moved["forward_sequences"] / passes,
        "lag_p99": percentile([x * 1e3 for x in res.send_lag_s], 99), "errors": res.errors[:3],
        "payloads": payloads, "arrivals": arrivals,  # kept so the Engine can replay the same run
    }


async def rate_run(pool, rate: float, args, rng: random.Random, name: str | None = None,
                   large_fraction: float = 0.0) -> dict:
    # Enough arrivals for a stable percentile even at a low rate, else the count/duration bounds.
    duration = max(args.max_duration, args.min_requests / rate)
    arrivals = poisson_schedule(rate, args.num_requests, duration, rng)
    payloads = payloads_for(args, rng, len(arrivals), large_fraction)
    return await measured_run(pool, name or f"{rate:g}", payloads, arrivals)


async def sequential_p50_ms(pool: HttpPool, method: str, path: str, bodies: list[bytes]) -> float:
    """Closed loop, one request at a time: the latency floor of a path with no queueing."""
    times = []
    for body in bodies:
        t0 = time.perf_counter()
        status, data = await pool.request(method, path, body)
        times.append(time.perf_counter() - t0)
        assert status == 200, data
    return statistics.median(times) * 1e3


async def find_max_rate(pool, rows: list[dict], args, rng, steps: int = 3) -> list[dict]:
    """Bisect (geometrically) between the highest passing and the lowest failing tested rate."""
    ok = [float(r["name"]) for r in rows if meets_slo(r)]
    bad = [float(r["name"]) for r in rows if not meets_slo(r) and (not ok or float(r["name"]) > max(ok))]
    if not ok or not bad:
        return []
    lo, hi, extra = max(ok), min(bad), []
    for _ in range(steps):
        mid = round((lo * hi) ** 0.5)
        if mid in (lo, hi):
            break
        row = await rate_run(pool, mid, args, rng)
        extra.append(row)
        lo, hi = (mid, hi) if meets_slo(row) else (lo, mid)
    return extra


def meets_slo(row: dict) -> bool:
    return row["fail"] == 0 and row["p99"] <= slo_ms


slo_ms = SLO_P99_MS  # main() sets GPU_SLO_P99_MS for --gpu-sglang


def device_args(args) -> list[str]:
    if args.gpu_sglang:
        return ["--device", args.device, "--dtype", "bfloat16", "--attention-backend", args.attention_backend or "flashinfer"]
    return ["--device", "cpu", "--num-threads", str(args.num_threads)]


async def serve_phase(model_path: str, delimiter: int, args, log_path: pathlib.Path) -> dict:
    rng = random.Random(args.seed)
    rates = [float(r) for r in args.rates.split(",")]
    server = ServerProcess(["--model-path", model_path, "--log-level", "warning",
                            "--multi-item-scoring-delimiter", delimiter, *device_args(args), *args.server_flag],
                           log_path=log_path)
    pool = HttpPool(server.host, server.port)
    try:
        server.wait_ready(timeout_s=180.0)  # blocks the event loop, which has nothing else to do yet
        await pool.warm(8)
        warm = payloads_for(args, rng, 30, 0.3)
        for body, _ in warm:  # first-call allocations and lazy init, both request sizes
            await pool.request("POST", "/v1/score", body)
        low = payloads_for(args, rng, 100 if not args.gpu_sglang else 20)
        out = {
            "http_floor": await sequential_p50_ms(pool, "GET", "/v1/models", [b""] * 100),
            "seq_score": await sequential_p50_ms(pool, "POST", "/v1/score", [b for b, _ in low]),
            "rates": [],
        }
        for r in rates:
            out["rates"].append(await rate_run(pool, r, args, rng))
            if args.stop_after_miss and not meets_slo(out["rates"][-1]):
                break
        out["bisect"] = await find_max_rate(pool, out["rates"], args, rng) if args.find_max_rate else []
        if args.gpu_sglang:
            return out
        share = args.mixed_fraction
        mix = f"mixed {1 - share:.0%} x{args.items_per_request} / {share:.0%} x{args.mixed_items}"
        out["mixed"] = [await rate_run(pool, args.mixed_rate, args, rng, f"{mix} @ {args.mixed_rate:g} req/s",
                                       args.mixed_fraction)]
        burst = make_payloads(rng, args.burst, args.items_per_request, args.mixed_items, args.mixed_fraction)
        out["mixed"].append(await measured_run(pool, f"{mix}, burst of {args.burst} at once", burst,
                                               [0.0] * args.burst))
        return out
    finally:
        await pool.close()
        server.stop()


def engine_p50_ms(model_path: str, delimiter: int, run: dict, args) -> tuple[float, float]:
    """The requests of ``run`` through the in-process Engine (no HTTP, same scheduler), one at a
    time: back to back, and replayed with the run's own arrival gaps. The gaps matter on a small VM:
    after an idle gap torch's intra-op threads wake up slowly and the forward pass itself is slower."""
    from multiscore import Engine

    requests = [orjson.loads(body) for body, _ in run["payloads"]]
    gaps = [b - a for a, b in zip([0.0] + run["arrivals"], run["arrivals"])]
    repeats = args.engine_repeats
    with Engine(model_path=model_path, device="cpu", multi_item_scoring_delimiter=delimiter,
                log_level="warning", num_threads=args.num_threads) as engine:
        def timed(p: dict) -> float:
            t0 = time.perf_counter()
            engine.score(p["query"], p["items"])
            return time.perf_counter() - t0

        for p in requests[:20]:
            timed(p)
        back_to_back = [timed(requests[i % len(requests)]) for i in range(repeats)]
        replayed = []
        for p, gap in zip(requests, gaps):
            time.sleep(gap)  # idle as long as the server was (service time << gap at a low rate)
            replayed.append(timed(p))
    return statistics.median(back_to_back) * 1e3, statistics.median(replayed) * 1e3


def transformers_baseline(model_path: str, payloads, device: str, batches=(1, 8)) -> list[tuple[str, float, float]]:
    """``transformers`` on the requests of ``payloads`` (token ids), closed loop, in bf16 on ``device``:
    each request's query+item pairs (equal lengths: no padding) as one batch, then ``b`` requests per
    batch. -> [(what, ms per batch p50, items/s)]."""
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(model_path, dtype=torch.bfloat16).to(device).eval()
    requests = [orjson.loads(body) for body, _ in payloads]
    rows = [[req["query"] + item for item in req["items"]] for req in requests]  # per request: [items, Q + L]

    @torch.inference_mode()
    def forward(ids):
        logits = model(input_ids=torch.tensor(ids, device=device)).logits
        return logits.float().cpu()  # the scores reach the host, as a server's would

    out = []
    for b in batches:
        groups = [sum(rows[i:i + b], []) for i in range(0, len(rows) - b + 1, b)]
        forward(groups[0])  # warm-up: kernels, allocator
        times = []
        for ids in groups:
            t0 = time.perf_counter()
            forward(ids)
            times.append(time.perf_counter() - t0)
        p50 = statistics.median(times)
        out.append((f"{b} request{'s' if b > 1 else ''} ({len(groups[0])} pairs) per batch", p50 * 1e3, len(groups[0]) / p50))
    return out


# ---- report -----------------------------------------------------------------------------------

COLUMNS = [("run", "name", "{}"), ("sent", "sent", "{}"), ("ok", "ok", "{}"), ("fail", "fail", "{}"),
           ("p50 ms", "p50", "{:.1f}"), ("p90 ms", "p90", "{:.1f}"), ("p99 ms", "p99", "{:.1f}"),
           ("req/s", "req_s", "{:.1f}"), ("items/s", "items_s", "{:.1f}"), ("tok/pass", "tok_pass", "{:.1f}"),
           ("seq/pass", "seq_pass", "{:.2f}"), ("send lag p99 ms", "lag_p99", "{:.1f}")]


def print_table(rows: list[dict], first_header: str, markdown: bool) -> None:
    header = [first_header] + [c[0] for c in COLUMNS[1:]]
    print_rows(header, [[fmt.format(r[key]) for _, key, fmt in COLUMNS] for r in rows], markdown)
    for r in rows:
        for e in r["errors"]:
            print(f"  error at {r['name']}: {e}")


def gpu_report(args, res: dict, model_path: str) -> None:
    import torch

    print(f"model: {args.model_path or 'Qwen3-0.6B shape, random weights'} ({model_path}), bfloat16, "
          f"attention backend {args.attention_backend or 'flashinfer'}, MIS on")
    device = "CPU (a dry run of the plumbing: not a GPU figure)" if args.device == "cpu" else torch.cuda.get_device_name(0)
    print(f"device: {device}; "
          f"workload: query {GPU_QUERY_TOKENS} tokens, {GPU_ITEMS} items x {GPU_ITEM_TOKENS} tokens, Poisson arrivals")
    rows = sorted(res["rates"] + res["bisect"], key=lambda r: float(r["name"]))
    print_table(rows, "rate req/s", args.markdown)
    passing = [r for r in rows if meets_slo(r)]
    best = max(passing, key=lambda r: r["items_s"], default=None)
    if best is None:
        print(f"no tested rate kept p99 <= {slo_ms:g} ms")
        return
    print(f"items/s at the highest rate with p99 <= {slo_ms:g} ms: {best['items_s']:.0f} "
          f"({best['name']} req/s); SGLang's published figure: {SGLANG_PUBLISHED_ITEMS_S:,.0f} items/s per H100 "
          f"-> {best['items_s'] / SGLANG_PUBLISHED_ITEMS_S:.2f}x")
    if res.get("transformers"):
        print("transformers bf16 on the same device and requests (closed loop, no SLO):")
        print_rows(["batch", "ms per batch p50", "items/s"],
                   [[what, f"{ms:.1f}", f"{items_s:.0f}"] for what, ms, items_s in res["transformers"]], args.markdown)
        top = max(items_s for _, _, items_s in res["transformers"])
        print(f"multiscore within the SLO vs transformers' best closed-loop throughput: {best['items_s'] / top:.2f}x")


def main(argv=None) -> None:
    global slo_ms
    args = parse_args(argv)
    load_before = load_average()
    if args.gpu_sglang:
        import torch

        if args.device == "cuda" and not torch.cuda.is_available():
            sys.exit("--gpu-sglang needs a CUDA device; no GPU figure was measured")
        slo_ms = GPU_SLO_P99_MS
        with tempfile.TemporaryDirectory(prefix="multiscore-serving-") as tmp:
            model_path, delimiter = resolve_model(args, pathlib.Path(tmp))
            res = asyncio.run(serve_phase(model_path, delimiter, args, pathlib.Path(tmp) / "server.log"))
            if not args.no_transformers:  # the server has stopped: the device is the baseline's alone
                res["transformers"] = transformers_baseline(model_path, sglang_payloads(random.Random(args.seed), 17),
                                                            args.device)
            gpu_report(args, res, model_path)
        return
    with tempfile.TemporaryDirectory(prefix="multiscore-serving-") as tmp:
        model_path, delimiter = resolve_model(args, pathlib.Path(tmp))
        res = asyncio.run(serve_phase(model_path, delimiter, args, pathlib.Path(tmp) / "server.log"))
        lowest = res["rates"][0]
        engine_ms, engine_paced_ms = engine_p50_ms(model_path, delimiter, lowest, args)

    import torch

    print(f"model: {args.model_path or 'tiny Qwen3ForSequenceClassification (make_tiny_model, hidden 64, 2 layers)'}, "
          f"MIS on (delimiter {delimiter}), fp32, CPU")
    print(f"workload: query {QUERY!r}, {args.items_per_request}-item requests of 3 words, Poisson arrivals, "
          f"<= {args.num_requests} requests and {args.max_duration:g} s per rate (>= {args.min_requests} requests)")
    print(f"torch {torch.__version__}, --num-threads {args.num_threads} (model process), "
          f"CPU: {cpu_model()} ({os.cpu_count()} cores), "
          f"1-min load average {load_before} before / {load_average()} after")
    print()
    rows = sorted(res["rates"] + res["bisect"], key=lambda r: float(r["name"]))
    print_table(rows, "rate req/s", args.markdown)
    print()
    overhead = lowest["p50"] - engine_paced_ms
    print(f"server overhead at {lowest['name']} req/s: server p50 {lowest['p50']:.2f} ms - Engine p50 "
          f"{engine_paced_ms:.2f} ms (the same run replayed) = {overhead:.2f} ms "
          f"(target <= {OVERHEAD_TARGET_MS:g} ms) -> {'OK' if overhead <= OVERHEAD_TARGET_MS else 'MISSED'}")
    print(f"  back to back (no idle gaps): HTTP p50 {res['seq_score']:.2f} ms - Engine p50 {engine_ms:.2f} ms = "
          f"{res['seq_score'] - engine_ms:.2f} ms; GET /v1/models round trip (no tokenizer, no scheduler) "
          f"p50 {res['http_floor']:.2f} ms")
    passing = [r for r in rows if meets_slo(r)]
    best = max((float(r["name"]) for r in passing), default=None)
    print(f"highest rate with p99 <= {slo_ms:g} ms and no failures: "
          f"{f'{best:g} req/s' if best is not None else 'none of the tested rates'}"
          f"{' (bisected)' if args.find_max_rate else ' (of the tested rates)'}")
    print()
    print_table(res["mixed"], "mixed traffic", args.markdown)
    print("tok/pass and seq/pass > the size of one request show concurrent requests sharing forward passes.")


if __name__ == "__main__":
    main()
