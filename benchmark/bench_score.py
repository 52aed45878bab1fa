"""Benchmark: transformers vs multiscore single-item vs multiscore multi-item scoring (MIS).

W1 also prints the model FLOPs of the MIS pass divided by its time, next to torch's fp32 matmul
rate ([2048x2048]·[2048x2048]) measured in the same run. W2 (wide ranking): query 512 tokens,
N items of 16 tokens for N = 50..500 — MIS time must grow linearly in N; prints the scheduler
process's peak resident memory.

Workload W1: a Qwen3-shaped ``Qwen3ForSequenceClassification`` (hidden 512, intermediate 1536,
6 layers, 8 heads, 4 KV heads, head_dim 64, vocab 32000, 1 label), random weights, fp32; one
query of 256 random token ids and 64 items of 24 random token ids. One run prints one table with
ratios against ``transformers`` measured in the same run, and checks that all three agree.

    python benchmark/bench_score.py [--queries-len 256] [--num-items 64] [--item-len 24]
                                    [--repeats 5] [--markdown]
"""

from __future__ import annotations

import argparse
import gc
import os
import pathlib
import platform
import statistics
import sys
import tempfile
import time

import torch

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from make_tiny_model import build_tokenizer  # noqa: E402

VOCAB = 32000
PAD_ID = 0  # transformers' SeqCls pooling needs a pad id for batches > 1; random ids avoid it
DELIMITER_ID = 1  # MIS delimiter; random ids avoid it too (not required, boundaries are metadata)
FIRST_RANDOM_ID = 8  # keep random ids clear of the special ids above
SHAPE = dict(hidden=512, intermediate=1536, layers=6, heads=8, kv_heads=4, head_dim=64)  # W1 and W2
W2_QUERY, W2_ITEM = 512, 16


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--queries-len", type=int, default=256, help="query length in tokens")
    p.add_argument("--num-items", type=int, default=64)
    p.add_argument("--item-len", type=int, default=24, help="item length in tokens")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per contender (median reported)")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument("--workload", choices=["w1", "w2", "all"], default="all",
                   help="w1: transformers vs single-item vs MIS; w2: MIS time and memory as N grows")
    p.add_argument("--w2-items", default="50,100,250,500", help="W2: item counts (query 512, items of 16)")
    return p.parse_args(argv)


def build_checkpoint(out_dir: pathlib.Path, context: int) -> pathlib.Path:
    """W1: random Qwen3 SeqCls checkpoint + a tiny tokenizer (the Engine loads one at start-up)."""
    from transformers import AutoModelForSequenceClassification, Qwen3Config
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # keep the printed report to the table

    config = Qwen3Config(
        vocab_size=VOCAB, hidden_size=SHAPE["hidden"], intermediate_size=SHAPE["intermediate"],
        num_hidden_layers=SHAPE["layers"], num_attention_heads=SHAPE["heads"],
        num_key_value_heads=SHAPE["kv_heads"], head_dim=SHAPE["head_dim"], num_labels=1,
        max_position_embeddings=max(4096, context), pad_token_id=PAD_ID, tie_word_embeddings=False,
        architectures=["Qwen3ForSequenceClassification"],
    )
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config).to(torch.float32)
    model.save_pretrained(out_dir)
    build_tokenizer("qwen3").save_pretrained(out_dir)  # ids are passed directly; its vocab is unused
    return out_dir


def make_workload(query_len: int, num_items: int, item_len: int) -> tuple[list[int], list[list[int]]]:
    gen = torch.Generator().manual_seed(1234)
    query = torch.randint(FIRST_RANDOM_ID, VOCAB, (query_len,), generator=gen).tolist()
    items = torch.randint(FIRST_RANDOM_ID, VOCAB, (num_items, item_len), generator=gen).tolist()
    return query, items


def median_time(fn, repeats: int) -> tuple[float, object]:
    """Warm up once (first-call allocations, lazy init), then the median of ``repeats`` runs."""
    result = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def bench_transformers(path, query, items, repeats) -> tuple[float, torch.Tensor]:
    """All (query+item) pairs as one batch: equal lengths, so no padding is needed."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(path, dtype=torch.float32).eval()
    input_ids = torch.tensor([query + item for item in items])  # [N, Q+L]
    mask = torch.ones_like(input_ids)

    @torch.inference_mode()
    def run():
        return model(input_ids=input_ids, attention_mask=mask).logits  # [N, num_labels]

    t, logits = median_time(run, repeats)
    del model
    gc.collect()
    return t, logits.float()


def bench_engine(path, query, items, repeats, delimiter) -> tuple[float, torch.Tensor]:
    """One Engine (and its scheduler process) alive at a time: the machine has few cores."""
    from multiscore import Engine

    with Engine(model_path=str(path), device="cpu", multi_item_scoring_delimiter=delimiter) as engine:
        t, result = median_time(lambda: engine.score(query, items), repeats)
    return t, torch.tensor(result.scores)


def matmul_rate(repeats: int = 5) -> float:
    """FLOP/s of torch's fp32 [2048x2048]·[2048x2048] product on this machine, now."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    t, _ = median_time(lambda: torch.mm(a, b), repeats)
    return 2 * 2048**3 / t


def mis_pass_flops(cfg: dict, q: int, item_lens: list[int], num_labels: int = 1) -> float:
    """FLOPs multiscore performs for one MIS pass (2 per multiply-add): every linear layer on all
    T rows except the last layer's o_proj + MLP (read-out rows only), and attention over the keys
    each row really sees (query causal, items [query ; own prefix], delimiters the query)."""
    h, inter, layers, d = cfg["hidden"], cfg["intermediate"], cfg["layers"], cfg["head_dim"]
    hq, hkv = cfg["heads"], cfg["kv_heads"]
    n = len(item_lens)
    t = q + sum(item_lens) + n + 1
    qkv, o, mlp = 2 * h * (hq + 2 * hkv) * d, 2 * hq * d * h, 2 * 3 * h * inter
    linear = layers * t * qkv + (layers - 1) * t * (o + mlp) + n * (o + mlp)
    keys = q * (q + 1) / 2 + sum(L * q + L * (L + 1) / 2 for L in item_lens) + (n + 1) * q
    return linear + layers * 4 * hq * d * keys + 2 * h * num_labels * n


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process, from /proc."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_model() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    """Other processes on a small machine skew every timing; print the load so a reader can tell."""
    try:
        return pathlib.Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "n/a"


def print_table(rows, num_items: int, markdown: bool) -> None:
    base = rows[0][1]
    header = ("contender", "ms / request", "items/s", "vs transformers")
    body = [(name, f"{t * 1e3:.1f}", f"{num_items / t:.1f}", f"{base / t:.2f}x") for name, t in rows]
    print_rows(header, body, markdown)


def print_rows(header, body, markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
        for r in body:
            print("| " + " | ".join(r) + " |")
        return
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    for r in [header, *body]:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))


def run_w1(args, path) -> bool:
    q, n, L = args.queries_len, args.num_items, args.item_len
    mis_tokens = q + n * (L + 1) + 1  # the packed MIS sequence: query D item D ... item D
    query, items = make_workload(q, n, L)
    load_before = load_average()
    t_hf, s_hf = bench_transformers(path, query, items, args.repeats)
    t_single, s_single = bench_engine(path, query, items, args.repeats, delimiter=None)
    t_mis, s_mis = bench_engine(path, query, items, args.repeats, delimiter=DELIMITER_ID)
    rate = matmul_rate()

    print(f"W1: query {q} tokens, {n} items x {L} tokens, median of {args.repeats} repeats after 1 warm-up; "
          f"1-min load average {load_before} before / {load_average()} after")
    print_table([("transformers (one batch)", t_hf), ("multiscore single-item", t_single),
                 ("multiscore MIS", t_mis)], n, args.markdown)
    hf_tokens = n * (q + L)
    print(f"token-count limit of the MIS ratio: transformers forwards {n} x ({q}+{L}) = {hf_tokens} tokens, "
          f"MIS forwards {q} + {n} x {L + 1} + 1 = {mis_tokens} tokens -> {hf_tokens / mis_tokens:.2f}x")
    mis_rate = mis_pass_flops(SHAPE, q, [L] * n) / t_mis
    print(f"MIS pass: {mis_pass_flops(SHAPE, q, [L] * n) / 1e9:.1f} GFLOP in {t_mis * 1e3:.0f} ms = "
          f"{mis_rate / 1e9:.1f} GFLOP/s; torch fp32 2048x2048 matmul: {rate / 1e9:.1f} GFLOP/s -> "
          f"{100 * mis_rate / rate:.0f}% of the matmul rate (whole request, HTTP-free Engine call)")
    diffs = {"MIS vs single-item": (s_mis - s_single).abs().max().item(),
             "MIS vs transformers": (s_mis - s_hf).abs().max().item(),
             "single-item vs transformers": (s_single - s_hf).abs().max().item()}
    ok = max(diffs.values()) <= 1e-4
    print("max |diff|: " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()) + f" -> {'OK' if ok else 'FAIL'}")
    return ok


def run_w2(args, path) -> None:
    """MIS only: one Engine, N growing; peak RSS is the scheduler process's high-water mark."""
    from multiscore import Engine

    counts = [int(x) for x in args.w2_items.split(",")]
    rows = []
    with Engine(model_path=str(path), device="cpu", multi_item_scoring_delimiter=DELIMITER_ID,
                context_length=W2_QUERY + max(counts) * (W2_ITEM + 1) + 1) as engine:
        for n in counts:
            query, items = make_workload(W2_QUERY, n, W2_ITEM)
            t, _ = median_time(lambda: engine.score(query, items), args.repeats)
            rows.append((n, W2_QUERY + n * (W2_ITEM + 1) + 1, t, peak_rss_mib(engine.scheduler_pid)))
    header = ("N items", "packed tokens", "ms / request", "items/s", f"time / time(N={counts[0]})", "peak RSS MiB")
    body = [(str(n), str(tok), f"{t * 1e3:.1f}", f"{n / t:.1f}", f"{t / rows[0][2]:.2f}", f"{rss:.0f}")
            for n, tok, t, rss in rows]
    print(f"\nW2: query {W2_QUERY} tokens, N items x {W2_ITEM} tokens, MIS (one packed sequence per request)")
    print_rows(header, body, args.markdown)
    print(f"N x{counts[-1] / counts[0]:.0f} -> time x{rows[-1][2] / rows[0][2]:.2f} (linear bound: "
          f"x{counts[-1] / counts[0]:.0f}; target time({counts[-1]})/time({counts[0]}) <= 11)")


def main(argv=None) -> None:
    args = parse_args(argv)
    w1_tokens = args.queries_len + args.num_items * (args.item_len + 1) + 1
    w2_tokens = W2_QUERY + max(int(x) for x in args.w2_items.split(",")) * (W2_ITEM + 1) + 1
    print(f"model: Qwen3ForSequenceClassification, hidden {SHAPE['hidden']}, intermediate {SHAPE['intermediate']}, "
          f"{SHAPE['layers']} layers, {SHAPE['heads']} heads, {SHAPE['kv_heads']} KV heads, head_dim "
          f"{SHAPE['head_dim']}, vocab {VOCAB}, 1 label, random weights, fp32")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU: {cpu_model()} ({os.cpu_count()} cores)")
    ok = True
    with tempfile.TemporaryDirectory(prefix="multiscore-bench-") as tmp:
        path = build_checkpoint(pathlib.Path(tmp), context=max(w1_tokens, w2_tokens))
        if args.workload in ("w1", "all"):
            print()
            ok = run_w1(args, path)
        if args.workload in ("w2", "all"):
            run_w2(args, path)
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
