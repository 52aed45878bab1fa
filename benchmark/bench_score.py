"""Benchmark: transformers vs multiscore single-item vs multiscore multi-item scoring (MIS).

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


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--queries-len", type=int, default=256, help="query length in tokens")
    p.add_argument("--num-items", type=int, default=64)
    p.add_argument("--item-len", type=int, default=24, help="item length in tokens")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per contender (median reported)")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    return p.parse_args(argv)


def build_checkpoint(out_dir: pathlib.Path, context: int) -> pathlib.Path:
    """W1: random Qwen3 SeqCls checkpoint + a tiny tokenizer (the Engine loads one at start-up)."""
    from transformers import AutoModelForSequenceClassification, Qwen3Config
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # keep the printed report to the table

    config = Qwen3Config(
        vocab_size=VOCAB, hidden_size=512, intermediate_size=1536, num_hidden_layers=6,
        num_attention_heads=8, num_key_value_heads=4, head_dim=64, num_labels=1,
        max_position_embeddings=max(4096, context), pad_token_id=PAD_ID, tie_word_embeddings=False,
        architectures=["Qwen3ForSequenceClassification"],
    )
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config).to(torch.float32)
    model.save_pretrained(out_dir)
    build_tokenizer("qwen3").save_pretrained(out_dir)  # ids are passed directly; its vocab is unused
    return out_dir


def make_workload(args) -> tuple[list[int], list[list[int]]]:
    gen = torch.Generator().manual_seed(1234)
    query = torch.randint(FIRST_RANDOM_ID, VOCAB, (args.queries_len,), generator=gen).tolist()
    items = torch.randint(FIRST_RANDOM_ID, VOCAB, (args.num_items, args.item_len), generator=gen).tolist()
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
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join(["---"] + ["---:"] * 3) + "|")
        for r in body:
            print("| " + " | ".join(r) + " |")
        return
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(4)]
    for r in [header, *body]:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))


def main(argv=None) -> None:
    args = parse_args(argv)
    q, n, L = args.queries_len, args.num_items, args.item_len
    mis_tokens = q + n * (L + 1) + 1  # the packed MIS sequence: query D item D ... item D
    query, items = make_workload(args)
    load_before = load_average()

    with tempfile.TemporaryDirectory(prefix="multiscore-bench-") as tmp:
        path = build_checkpoint(pathlib.Path(tmp), context=mis_tokens)
        t_hf, s_hf = bench_transformers(path, query, items, args.repeats)
        t_single, s_single = bench_engine(path, query, items, args.repeats, delimiter=None)
        t_mis, s_mis = bench_engine(path, query, items, args.repeats, delimiter=DELIMITER_ID)

    print(f"model (W1): Qwen3ForSequenceClassification, hidden 512, intermediate 1536, 6 layers, 8 heads, "
          f"4 KV heads, head_dim 64, vocab {VOCAB}, 1 label, random weights, fp32")
    print(f"workload: query {q} tokens, {n} items x {L} tokens, median of {args.repeats} repeats after 1 warm-up")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU: {cpu_model()} "
          f"({os.cpu_count()} cores), 1-min load average {load_before} before / {load_average()} after")
    print()
    print_table([("transformers (one batch)", t_hf), ("multiscore single-item", t_single),
                 ("multiscore MIS", t_mis)], n, args.markdown)
    print()
    hf_tokens = n * (q + L)
    print(f"token-count limit of the MIS ratio: transformers forwards {n} x ({q}+{L}) = {hf_tokens} tokens, "
          f"MIS forwards {q} + {n} x {L + 1} + 1 = {mis_tokens} tokens -> {hf_tokens / mis_tokens:.2f}x")
    diff_mis_single = (s_mis - s_single).abs().max().item()
    diff_mis_hf = (s_mis - s_hf).abs().max().item()
    diff_single_hf = (s_single - s_hf).abs().max().item()
    worst = max(diff_mis_single, diff_mis_hf, diff_single_hf)
    print(f"max |diff|: MIS vs single-item {diff_mis_single:.2e}, MIS vs transformers {diff_mis_hf:.2e}, "
          f"single-item vs transformers {diff_single_hf:.2e} -> {'OK' if worst <= 1e-4 else 'FAIL'} (<= 1e-4)")
    if worst > 1e-4:
        sys.exit(1)


if __name__ == "__main__":
    main()
