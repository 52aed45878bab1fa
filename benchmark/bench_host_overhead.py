"""Host CPU per request in SGLang's scoring configuration (a 120-token query and 10 items of 180
tokens, token ids, MIS on): what the server's processes spend on each request outside the model's
arithmetic. That is the ceiling the host puts on items/s whatever the accelerator does (issue 18's
"what bounds it").

A closed loop of ``--concurrency`` clients sends ``--requests`` requests; the CPU time of each server
process is read from /proc before and after, the model's forward time from the scheduler's
``forward_seconds`` counter. Per request it prints:

- HTTP process CPU ms (FastAPI, JSON, validation, the tokenizer manager, ZMQ);
- model process CPU ms, and of it the forward passes' wall ms; with one intra-op thread (the
  default here) forward CPU ~ forward wall, so the difference is the scheduler's own work
  (batching, packing, metadata, outputs) - on a GPU, forward wall is the device's time instead;
- the host ceilings those imply: requests/s if each process had a core to itself.

    python benchmark/bench_host_overhead.py [--requests 400] [--concurrency 8] [--model-path DIR --device cuda] [--markdown]

Default model: a tiny Qwen3 classifier (hidden 64, 2 layers) with Qwen3's 151,936-token vocabulary,
so the SGLang-shaped token ids are valid and the forward pass is cheap next to the host's work.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import random
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "scripts"))
sys.path.insert(0, str(HERE))
from bench_common import cpu_features, cpu_model, load_average, print_rows  # noqa: E402
from bench_serving import GPU_DELIMITER, GPU_ITEMS, sglang_payloads  # noqa: E402
from http_load import HttpPool  # noqa: E402
from server_process import ServerProcess, descendants  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=400, help="timed requests (after 20 warm-up ones)")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight (closed loop)")
    p.add_argument("--model-path", default=None, help="a checkpoint taking Qwen3's token ids (default: a tiny one)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--num-threads", type=int, default=1, help="the model process's intra-op threads (CPU)")
    p.add_argument("--server-flag", action="append", default=[], metavar="FLAG", help="one more server flag (repeatable)")
    p.add_argument("--markdown", action="store_true")
    return p.parse_args(argv)


def tiny_qwen3(out: pathlib.Path) -> str:
    import torch
    from transformers import AutoModelForSequenceClassification, Qwen3Config

    from make_tiny_model import build_tokenizer

    config = Qwen3Config(vocab_size=151936, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=16, num_labels=1, pad_token_id=0,
                         architectures=["Qwen3ForSequenceClassification"])
    torch.manual_seed(0)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(out)
    build_tokenizer("qwen3").save_pretrained(out)  # requests are token ids; its vocabulary is unused
    return str(out)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (/proc/PID/stat)."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(server: ServerProcess, args) -> dict:
    payloads = [body for body, _ in sglang_payloads(random.Random(0), args.requests + 20)]
    pool = HttpPool(server.host, server.port)
    try:
        await pool.warm(args.concurrency)
        for body in payloads[:20]:
            status, data = await pool.request("POST", "/v1/score", body)
            if status != 200:
                sys.exit(f"warm-up request failed ({status}): {data[:300]!r}")
        model_pids = sorted(descendants(server.proc.pid))
        pids = {"http": server.proc.pid, **{f"model{i}": pid for i, pid in enumerate(model_pids)}}
        before_cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
        before = (await pool.get_json("/get_server_info"))["scheduler"]
        timed = payloads[20:]
        start = time.perf_counter()

        async def client(chunk):
            for body in chunk:
                status, data = await pool.request("POST", "/v1/score", body)
                if status != 200:
                    raise RuntimeError(f"request failed ({status}): {data[:300]!r}")

        await asyncio.gather(*(client(timed[i::args.concurrency]) for i in range(args.concurrency)))
        wall = time.perf_counter() - start
        after = (await pool.get_json("/get_server_info"))["scheduler"]
        cpu = {name: cpu_seconds(pid) - before_cpu[name] for name, pid in pids.items()}
    finally:
        await pool.close()
    n = len(timed)
    model_cpu = sum(v for k, v in cpu.items() if k.startswith("model"))
    forward = after["forward_seconds"] - before["forward_seconds"]
    return {"n": n, "wall": wall, "http_ms": 1e3 * cpu["http"] / n, "model_ms": 1e3 * model_cpu / n,
            "forward_ms": 1e3 * forward / n, "passes": after["forward_passes"] - before["forward_passes"]}


def main(argv=None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model_path or tiny_qwen3(pathlib.Path(tmp) / "tiny-qwen3-vocab")
        flags = ["--model-path", model, "--multi-item-scoring-delimiter", GPU_DELIMITER, "--device", args.device,
                 "--log-level", "warning", *(["--num-threads", args.num_threads] if args.device == "cpu" else []),
                 *args.server_flag]
        server = ServerProcess(flags, log_path=pathlib.Path(tmp) / "server.log")
        try:
            server.wait_ready(timeout_s=300.0)
            r = asyncio.run(measure(server, args))
        finally:
            server.stop()
    outside = r["model_ms"] - r["forward_ms"]
    print(f"CPU: {cpu_model()} ({os.cpu_count()} cores; {cpu_features()}); device {args.device}; "
          f"model {'tiny Qwen3 (hidden 64, 2 layers, vocab 151936)' if args.model_path is None else args.model_path}")
    print(f"{r['n']} requests of 120 + {GPU_ITEMS} x 180 tokens, MIS, {args.concurrency} in flight: "
          f"{r['n'] / r['wall']:.1f} req/s = {GPU_ITEMS * r['n'] / r['wall']:.0f} items/s on this machine, "
          f"{r['n'] / max(r['passes'], 1):.2f} requests per forward pass; load average {load_average()}")
    rows = [
        ("HTTP process CPU (FastAPI, JSON, checks, tokenizer manager, ZMQ)", f"{r['http_ms']:.2f}",
         f"{1e3 / r['http_ms']:.0f}"),
        ("model process CPU, all", f"{r['model_ms']:.2f}", ""),
        ("  of it: forward passes (wall)", f"{r['forward_ms']:.2f}", ""),
        ("  of it: scheduler outside the forward (CPU - forward wall)", f"{outside:.2f}",
         f"{1e3 / outside:.0f}" if outside > 0 else "n/a"),
    ]
    print_rows(("per request", "ms", "host ceiling req/s (a core each)"), rows, args.markdown)


if __name__ == "__main__":
    main()
