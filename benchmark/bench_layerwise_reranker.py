"""Benchmark: FlagEmbedding's layerwise rerankers' layouts against FlagEmbedding, the library their model cards run.

``--model minicpm``: bge-reranker-v2-minicpm-layerwise; ``--model gemma2-lightweight``:
bge-reranker-v2.5-gemma2-lightweight (without token compression; FlagEmbedding runs it with
transformers' SDPA attention, which skips Gemma2's attention soft-capping, so multiscore runs with
``attn_logit_softcapping`` off too: the same computation). One query against ``--docs`` documents,
scored at layer ``--cutoff``:

- multiscore MIS: the pairs' prompts (the model's ``bge_reranker`` template) tokenized, then one
  sequence of the shared query and every item (each item: "\\nB: document\\n" and the prompt), first
  ``--cutoff`` layers only;
- multiscore single-item: the same prompts, each pair its own sequence, in one batch;
- FlagEmbedding's ``LayerWiseLLMReranker`` / ``LightweightLLMReranker`` ``.compute_score(pairs,
  cutoff_layers=[c])`` (its own venv, benchmark/layerwise_contender.py): the pairs padded into batches
  of 128, run up to the cut.

The model is random, in the published layout (MiniCPM's multipliers, or Gemma2's block with its
soft-caps; a one-output head per layer from ``start_layer``), at a reduced size: hidden 512, MLP 1280,
8 heads of 64 (Gemma2: 4 key/value heads, a 4,096-token window as published), 8 layers of which layers
2..8 carry heads. Words come from the tiny test vocabulary (one token each). fp32 (``--dtype bfloat16``:
multiscore in bf16, what ``--dtype auto`` picks for a 16-bit checkpoint on a CPU with native bf16;
FlagEmbedding stays in fp32, which it forces on CPU), median of ``--repeats``.
Every time includes tokenization (each side's own).

``--compress-ratio R --compress-layers L ...`` (gemma2-lightweight): FlagEmbedding's token compression on
both sides (models/token_compression.py), MIS and single-item.

    python benchmark/bench_layerwise_reranker.py [--model minicpm|gemma2-lightweight] [--query 32] [--docs 32]
        [--doc-len 64] [--cutoff 6] [--compress-ratio 1 --compress-layers 4] [--repeats 3] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import random
import statistics
import subprocess
import sys
import tempfile

import torch

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmark"))
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "test"))
from bench_common import load_average, machine_line, median_time, print_rows  # noqa: E402
from make_tiny_model import build_tokenizer  # noqa: E402
from remote_code_checkpoints import as_minicpm  # noqa: E402
from tiny_tokenizers import WORDS  # noqa: E402

from multiscore.configs.model_config import ModelConfig  # noqa: E402
from multiscore.messages import PoolingParams, TokenizedScoreRequest  # noqa: E402
from multiscore.model_executor.forward_batch import ScoreSequence  # noqa: E402
from multiscore.model_executor.mis_layout import pack_mis  # noqa: E402
from multiscore.model_executor.model_worker import ModelWorker  # noqa: E402
from multiscore.scheduler.policy import split_into_sequences  # noqa: E402
from multiscore.server_args import ServerArgs  # noqa: E402
from multiscore.tokenizer.pair_tokenizer import PairTokenizer  # noqa: E402
from multiscore.tokenizer.score_template import ScoreTemplate  # noqa: E402

CONTENDER = REPO / "benchmark" / "layerwise_contender.py"
LAYERS, START, DELIMITER = 8, 2, 4


def build_lightweight(out: pathlib.Path, reference_python: str) -> pathlib.Path:
    """bge-reranker-v2.5-gemma2-lightweight's layout, saved by FlagEmbedding's own class (its venv)."""
    build_tokenizer("gemma2").save_pretrained(out / "tokenizer")
    make = [reference_python, str(REPO / "test" / "reference" / "flagembedding_lightweight_reference.py"), "make",
            "--out", str(out / "lightweight"), "--tokenizer-json", str(out / "tokenizer" / "tokenizer.json"),
            "--layers", str(LAYERS), "--start", str(START), "--hidden", "512", "--intermediate", "1280",
            "--heads", "8", "--head-dim", "64", "--window", "4096"]
    run = subprocess.run(make, capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        sys.exit(f"making the checkpoint failed:\n{run.stderr[-3000:]}")
    return out / "lightweight"


def build_checkpoint(out: pathlib.Path) -> pathlib.Path:
    from transformers import GraniteConfig, GraniteForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tokenizer = build_tokenizer("llama")
    config = GraniteConfig(vocab_size=(len(tokenizer) + 63) // 64 * 64, hidden_size=512, intermediate_size=1280,
                           num_hidden_layers=LAYERS, num_attention_heads=8, num_key_value_heads=8,
                           max_position_embeddings=4096, tie_word_embeddings=False, embedding_multiplier=12.0,
                           attention_multiplier=64 ** -0.5, residual_multiplier=1.4 / math.sqrt(LAYERS),
                           logits_scaling=2.0, bos_token_id=tokenizer.bos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    GraniteForCausalLM(config).eval().save_pretrained(out / "granite")
    tokenizer.save_pretrained(out / "granite")
    return as_minicpm(out / "granite", out / "layerwise", "LayerWiseMiniCPMForCausalLM", layerwise_start=START)


def workload(query_len: int, docs: int, doc_len: int) -> tuple[str, list[str]]:
    rng = random.Random(0)
    words = lambda n: " ".join(rng.choice(WORDS) for _ in range(n))  # noqa: E731
    return words(query_len), [words(doc_len) for _ in range(docs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--query", type=int, default=32, help="query words (tokens)")
    parser.add_argument("--docs", type=int, default=32)
    parser.add_argument("--doc-len", type=int, default=64, help="document words (tokens)")
    parser.add_argument("--cutoff", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", choices=["minicpm", "gemma2-lightweight"], default="minicpm")
    parser.add_argument("--compress-ratio", type=int, default=1, help="gemma2-lightweight: FlagEmbedding's")
    parser.add_argument("--compress-layers", type=int, nargs="+", default=[4])
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32", help="multiscore's")
    parser.add_argument("--reference-python", help="FlagEmbedding's venv (bash test/reference/setup.sh); default "
                        ".venv-reference, .venv-reference-tf4 for gemma2-lightweight")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()

    lightweight = args.model == "gemma2-lightweight"
    compressed = lightweight and args.compress_ratio > 1
    compression = {"compress_ratio": args.compress_ratio, "compress_layers": args.compress_layers} if compressed else {}
    venv = ".venv-reference-tf4" if lightweight else ".venv-reference"
    reference_python = args.reference_python or str(REPO / venv / "bin" / "python")
    query, documents = workload(args.query, args.docs, args.doc_len)
    with tempfile.TemporaryDirectory() as tmp:
        path = build_lightweight(pathlib.Path(tmp), reference_python) if lightweight else build_checkpoint(pathlib.Path(tmp))
        server_args = ServerArgs(model_path=str(path), device="cpu", dtype=args.dtype, disable_radix_cache=True,
                                 json_model_override_args=json.dumps({"cutoff_layers": [args.cutoff], **(
                                     {"attn_logit_softcapping": None} if lightweight else {}), **compression}))
        config = ModelConfig.from_server_args(server_args)
        worker = ModelWorker(server_args, config)
        tokenizer = config.load_tokenizer()
        pairs = PairTokenizer(tokenizer, ScoreTemplate.load(config.default_score_template, tokenizer))
        raw = PoolingParams(activation="none")

        def mis() -> torch.Tensor:
            q, items = pairs.decoder_pairs(query, documents)
            seq = ScoreSequence("m", pack_mis(q, items, DELIMITER), 0, len(items), raw, query_len=len(q),
                                item_lens=[len(it) for it in items])
            return worker.forward([seq])[0].flatten()

        def single() -> torch.Tensor:
            q, items = pairs.decoder_pairs(query, documents)
            seqs = [ScoreSequence(f"s{i}", q + it, i, 1, raw) for i, it in enumerate(items)]
            return torch.cat(worker.forward(seqs)).flatten()

        def score_compressed(mis: bool) -> torch.Tensor:  # as the compressing scorers send them: items with token types
            query_ids, items_ids, types = pairs.segmented_pairs(query, documents)
            req = TokenizedScoreRequest("c", query_ids, items_ids, raw, mis=mis, items_token_type_ids=types)
            return torch.cat(worker.forward(split_into_sequences(req, DELIMITER, 1 << 30))).flatten()

        q, items = pairs.decoder_pairs(query, documents)
        shape = f"prompt tokens: shared {len(q)}, per item {len(items[0])}"
        if compressed:
            rows = [(f"multiscore MIS, compressed {args.compress_ratio}x at layers {args.compress_layers}",
                     *median_time(lambda: score_compressed(True), args.repeats)),
                    ("multiscore single-item, compressed", *median_time(lambda: score_compressed(False), args.repeats))]
        else:
            rows = [("multiscore MIS", *median_time(mis, args.repeats)),
                    ("multiscore single-item", *median_time(single, args.repeats))]
        with open(pathlib.Path(tmp) / "inputs.json", "w") as f:
            json.dump({"query": query, "documents": documents}, f)
        run = subprocess.run([reference_python, str(CONTENDER), "--model", str(path), "--inputs", f.name,
                              "--cutoff", str(args.cutoff), "--repeats", str(args.repeats),
                              "--kind", "lightweight" if lightweight else "minicpm",
                              "--compress-ratio", str(args.compress_ratio if compressed else 1),
                              "--compress-layers", *map(str, args.compress_layers)],
                             capture_output=True, text=True, timeout=3600)
        if run.returncode != 0:
            sys.exit(f"FlagEmbedding contender failed:\n{run.stderr[-3000:]}")
        theirs = json.loads(run.stdout.strip().splitlines()[-1])
        t_ref, s_ref = statistics.median(theirs["seconds"]), torch.tensor(theirs["scores"])

    print(f"# {args.model} layerwise reranker at layer {args.cutoff} of {LAYERS}, query {args.query} words + {args.docs} documents x "
          f"{args.doc_len} words ({shape}), multiscore {args.dtype} (compiled ops: {worker.compile.compiled}), "
          f"FlagEmbedding float32, median of {args.repeats}; load {load_average()}")
    print(f"# {machine_line()}; FlagEmbedding {theirs['versions']['FlagEmbedding']}, torch {theirs['versions']['torch']}")
    print(f"# FlagEmbedding's scores span {(s_ref.max() - s_ref.min()).item():.3f} (the scale of the differences below)")
    body = [[name, f"{t * 1000:.1f}", f"{t_ref / t:.2f}x", f"{(s - s_ref).abs().max().item():.1e}"] for name, t, s in rows]
    contender = "LightweightLLMReranker" if lightweight else "LayerWiseLLMReranker"
    body.append([f"FlagEmbedding {contender}.compute_score", f"{t_ref * 1000:.1f}", "1.00x", "0"])
    print_rows(["variant", "ms", "vs FlagEmbedding", "max |score diff| vs FlagEmbedding"], body, args.markdown)


if __name__ == "__main__":
    main()
