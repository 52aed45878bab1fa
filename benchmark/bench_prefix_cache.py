"""Benchmark: the prefix cache on vs ``--disable-radix-cache``, one Engine at a time, same run.

W1's model (a Qwen3-shaped classifier, hidden 512, 6 layers, random fp32 weights; bench_score.py):
- W5 pages (MIS): one member query of 512 tokens, 8 sequential requests of 64 new items x 16.
- W6 single-item (no delimiter): one query of 256 tokens with 64 items of 24 — the first request
  (the items share their query within the request) and the same request again (the query cached).
- W7 templated rerank: Qwen3-Reranker's template (Engine.rerank, a causal W1-shaped model read at
  "yes"/"no") around 20 different queries x 50 documents of 100 tokens.
Each row: total time (median of ``--repeats``, the cache flushed before each), the ratio, the
prefix cache's hit rate over the timed runs, and the scheduler's peak resident memory.

    python benchmark/bench_prefix_cache.py [--workload w5|w6|w7|all] [--repeats 3] [--markdown]
"""

from __future__ import annotations

import argparse
import pathlib
import random
import statistics
import sys
import tempfile
import time

import torch

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "benchmark"))
from bench_common import load_average, machine_line, peak_rss_mib, print_rows  # noqa: E402
from bench_score import DELIMITER_ID, SHAPE, VOCAB, build_checkpoint, make_workload  # noqa: E402
from make_tiny_model import build_tokenizer  # noqa: E402

W5 = dict(query=512, pages=8, items=64, item_len=16)
W6 = dict(query=256, items=64, item_len=24)
W7 = dict(queries=20, docs=50, doc_len=100)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workload", choices=["w5", "w6", "w7", "all"], default="all")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--markdown", action="store_true")
    return p.parse_args(argv)


def engine(path, cache: bool, **kw):
    from multiscore import Engine

    return Engine(model_path=str(path), device="cpu", dtype="float32", context_length=8192,
                  disable_radix_cache=not cache, **kw)


def timed(eng, run, repeats: int, warm: bool = False):
    """-> (median seconds, last result, hit rate of the timed runs). The cache is flushed before
    each run; ``warm``: ``run`` once more after the flush, untimed (the cached case)."""
    times, result, hits, query_tokens = [], None, 0, 0
    run()  # warm-up: first-call allocations
    for _ in range(repeats):
        eng.flush_cache()
        if warm:
            run()
        before = eng.get_server_info()["scheduler"]
        t0 = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - t0)
        after = eng.get_server_info()["scheduler"]
        hits += after["prefix_cache_hit_tokens"] - before["prefix_cache_hit_tokens"]
        query_tokens += after["prefix_cache_query_tokens"] - before["prefix_cache_query_tokens"]
    return statistics.median(times), result, (hits / query_tokens if query_tokens else 0.0)


def compare(name: str, make_engine, run, repeats: int, rows: list, warm: bool = False) -> None:
    results = {}
    for cache in (False, True):
        with make_engine(cache) as eng:
            t, result, hit_rate = timed(eng, run(eng), repeats, warm)
            results[cache] = (t, torch.tensor(result), hit_rate, peak_rss_mib(eng.scheduler_pid))
    (t_off, s_off, _, rss_off), (t_on, s_on, hit, rss_on) = results[False], results[True]
    diff = (s_on - s_off).abs().max().item()
    rows.append((name, f"{t_off * 1e3:.0f}", f"{t_on * 1e3:.0f}", f"{t_off / t_on:.2f}x", f"{100 * hit:.0f}%",
                 f"{rss_off:.0f} / {rss_on:.0f}", f"{diff:.1e}"))


def w5(path, repeats, rows):
    query, _ = make_workload(W5["query"], 1, 1)
    gen = torch.Generator().manual_seed(5)
    pages = [torch.randint(8, VOCAB, (W5["items"], W5["item_len"]), generator=gen).tolist() for _ in range(W5["pages"])]
    run = lambda eng: lambda: [s for items in pages for s in eng.score(query, items).scores]  # noqa: E731
    compare(f"W5 pages: MIS, query {W5['query']}, {W5['pages']} x {W5['items']} items of {W5['item_len']}",
            lambda cache: engine(path, cache, multi_item_scoring_delimiter=DELIMITER_ID), run, repeats, rows)


def w6(path, repeats, rows):
    query, items = make_workload(W6["query"], W6["items"], W6["item_len"])
    run = lambda eng: lambda: eng.score(query, items).scores  # noqa: E731
    label = f"W6 single-item: query {W6['query']}, {W6['items']} items of {W6['item_len']}"
    compare(label + ", first request", lambda cache: engine(path, cache), run, repeats, rows)
    compare(label + ", same request again", lambda cache: engine(path, cache), run, repeats, rows, warm=True)


def w7(path, repeats, rows):
    rng = random.Random(7)
    words = [w for w in build_tokenizer("qwen3").get_vocab() if w.isalpha()]
    text = lambda n: " ".join(rng.choice(words) for _ in range(n))  # noqa: E731  (one word, one token)
    queries = [text(rng.randrange(6, 16)) for _ in range(W7["queries"])]
    docs = [[text(W7["doc_len"]) for _ in range(W7["docs"])] for _ in queries]

    def run(eng):
        def go():
            scores = []
            for q, ds in zip(queries, docs):
                ranked = sorted(eng.rerank(q, ds, return_documents=False), key=lambda r: r.index)
                scores += [r.relevance_score for r in ranked]
            return scores
        return go

    overrides = '{"architectures": ["Qwen3ForCausalLM"], "classifier_from_token": ["no", "yes"], "method": "from_2_way_softmax"}'
    compare(f"W7 templated rerank: {W7['queries']} queries x {W7['docs']} documents of {W7['doc_len']}",
            lambda cache: engine(path, cache, score_template="qwen3_reranker", json_model_override_args=overrides),
            run, repeats, rows)


def build_causal(out_dir: pathlib.Path) -> pathlib.Path:
    """W1's shape as a Qwen3ForCausalLM (the reranker template reads its yes/no logits)."""
    from transformers import AutoModelForCausalLM, Qwen3Config

    config = Qwen3Config(vocab_size=VOCAB, hidden_size=SHAPE["hidden"], intermediate_size=SHAPE["intermediate"],
                         num_hidden_layers=SHAPE["layers"], num_attention_heads=SHAPE["heads"],
                         num_key_value_heads=SHAPE["kv_heads"], head_dim=SHAPE["head_dim"], max_position_embeddings=8192,
                         tie_word_embeddings=False, architectures=["Qwen3ForCausalLM"])
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(out_dir)
    build_tokenizer("qwen3").save_pretrained(out_dir)
    return out_dir


def main(argv=None) -> None:
    args = parse_args(argv)
    print(machine_line())
    print(f"1-min load average before: {load_average()}; median of {args.repeats} runs, each after a cache flush")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        classifier = build_checkpoint(pathlib.Path(tmp) / "w1", SHAPE)
        if args.workload in ("w5", "all"):
            w5(classifier, args.repeats, rows)
        if args.workload in ("w6", "all"):
            w6(classifier, args.repeats, rows)
        if args.workload in ("w7", "all"):
            w7(build_causal(pathlib.Path(tmp) / "causal"), args.repeats, rows)
    header = ("workload", "ms, cache off", "ms, cache on", "ratio", "hit rate", "peak RSS MiB off / on", "max |diff|")
    print_rows(header, rows, args.markdown)
    print(f"1-min load average after: {load_average()}")


if __name__ == "__main__":
    main()
