"""Benchmark: the encoder families added last (``--model bart``, ``esm`` or ``monot5``), against transformers in the same run.

``--model bart``: a BART NLI classifier (bart-large-mnli's architecture) scoring zero-shot pairs.
Zero-shot classification of one text into candidate labels is one (premise, "This example is about
{label}.") pair per label, each read at its entailment logit. Workload: ``--texts`` texts of 20..80
words, each against ``--labels`` candidate labels (``--texts`` x ``--labels`` pairs). Rows:

- multiscore: every pair in one ``ModelWorker.forward`` (packed, attention in chunks of similar
  lengths: no padding beyond a chunk's longest pair);
- transformers, every pair in one padded batch (its fastest way here);
- transformers' ``zero-shot-classification`` pipeline with ``batch_size=8`` per text (how the model
  card runs it; the default, one pair at a time, is slower still).

The model is random at bart-large's widths (d_model 1024, 16 heads, feed-forward 4096) with
distilbart-mnli-12-6's depth (12 encoder and 6 decoder layers), fp32, median of ``--repeats``; the
score column is the largest difference of any entailment probability from the padded batch's.

``--model esm``: ESM-2 protein embeddings at esm2_t12_35M's shape (hidden 480, 12 layers, 20 heads,
MLP 1920), ``--proteins`` random sequences of 50..400 residues, mean-pooled: multiscore (one
``ModelWorker.forward``) vs transformers ``EsmModel`` in one padded batch (its attention mask, then the
masked mean) and one protein at a time. The diff column is the largest cosine distance between the
normalised embeddings.

``--model monot5``: a MonoT5 reranker at t5-base's shape (d_model 768, 12 encoder and 12 decoder layers, 12
heads, feed-forward 3072, ReLU, tied head) reranking ``--docs`` documents of 20..120 words for one query,
each pair "Query: q Document: d Relevant:" read at the first decoding step (the probability of "true"
against "false"): multiscore (one ``ModelWorker.forward``: the encoder packed, one decoder step per
pair) vs transformers' ``T5ForConditionalGeneration`` on one padded batch with one decoder token
(pygaggle's MonoT5 does the same, in batches).

    python benchmark/bench_new_encoders.py --model bart [--texts 8] [--labels 8] [--repeats 3] [--markdown]
    python benchmark/bench_new_encoders.py --model monot5 [--docs 32] [--repeats 3] [--markdown]
    python benchmark/bench_new_encoders.py --model esm [--proteins 64] [--repeats 3] [--markdown]
"""

from __future__ import annotations

import argparse
import pathlib
import random
import sys
import tempfile

import torch

sys.path.insert(0, str(pathlib.Path(__file__).parent))
sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "scripts"))
from bench_common import load_average, machine_line, median_time, print_rows  # noqa: E402
from tiny_tokenizers import WORDS, build_tokenizer  # noqa: E402

from multiscore.configs.model_config import ModelConfig  # noqa: E402
from multiscore.messages import PoolingParams  # noqa: E402
from multiscore.model_executor.forward_batch import ScoreSequence  # noqa: E402
from multiscore.model_executor.model_worker import ModelWorker  # noqa: E402
from multiscore.server_args import ServerArgs  # noqa: E402

ENTAILMENT = 2  # MNLI's labels: contradiction, neutral, entailment


def build_bart(out: pathlib.Path) -> pathlib.Path:
    import transformers
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tokenizer = build_tokenizer("bart")
    config = transformers.BartConfig(
        vocab_size=len(tokenizer), d_model=1024, encoder_layers=12, decoder_layers=6, encoder_attention_heads=16,
        decoder_attention_heads=16, encoder_ffn_dim=4096, decoder_ffn_dim=4096, max_position_embeddings=1024,
        num_labels=3, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.eos_token_id,
        id2label={0: "contradiction", 1: "neutral", 2: "entailment"},
        label2id={"contradiction": 0, "neutral": 1, "entailment": 2}, architectures=["BartForSequenceClassification"])
    torch.manual_seed(0)
    transformers.BartForSequenceClassification(config).eval().save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def workload(num_texts: int, num_labels: int) -> tuple[list[str], list[str]]:
    rng = random.Random(1234)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 80))) for _ in range(num_texts)]
    labels = [rng.choice(WORDS) for _ in range(num_labels)]
    return texts, labels


def build_esm(out: pathlib.Path) -> pathlib.Path:
    import transformers
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tokenizer = build_tokenizer("esm")
    config = transformers.EsmConfig(
        vocab_size=len(tokenizer), hidden_size=480, num_hidden_layers=12, num_attention_heads=20, intermediate_size=1920,
        max_position_embeddings=1026, position_embedding_type="rotary", token_dropout=True, emb_layer_norm_before=False,
        pad_token_id=tokenizer.pad_token_id, mask_token_id=tokenizer.mask_token_id, architectures=["EsmModel"])
    torch.manual_seed(0)
    transformers.EsmModel(config, add_pooling_layer=False).eval().save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def run_esm(args) -> None:
    from transformers import AutoTokenizer, EsmModel

    rng = random.Random(1234)
    proteins = ["".join(rng.choice("LAGVSERTIDPKQNFYMHWC") for _ in range(rng.randint(50, 400))) for _ in range(args.proteins)]
    with tempfile.TemporaryDirectory() as tmp:
        path = build_esm(pathlib.Path(tmp))
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        ids = [tokenizer(p)["input_ids"] for p in proteins]
        pooling = PoolingParams(activation="default")
        sequences = [ScoreSequence(f"p{i}", s, i, 1, pooling) for i, s in enumerate(ids)]
        server_args = ServerArgs(model_path=str(path), device="cpu", dtype="float32")
        worker = ModelWorker(server_args, ModelConfig.from_server_args(server_args))
        rows = []
        t, s = median_time(lambda: torch.cat(worker.forward(sequences)), args.repeats)
        rows.append(("multiscore, every protein in one forward", t, s))
        hf = EsmModel.from_pretrained(str(path), dtype=torch.float32).eval()
        batch = tokenizer(proteins, padding=True, return_tensors="pt")

        def hf_batch():
            with torch.inference_mode():
                states = hf(**batch).last_hidden_state  # [N, L, H]
            mask = batch["attention_mask"][..., None].float()
            return torch.nn.functional.normalize((states * mask).sum(1) / mask.sum(1), dim=-1)

        def hf_each():
            with torch.inference_mode():
                return torch.nn.functional.normalize(torch.stack(
                    [hf(input_ids=torch.tensor([x])).last_hidden_state[0].mean(0) for x in ids]), dim=-1)

        t_hf, s_hf = median_time(hf_batch, args.repeats)
        t_each, s_each = median_time(hf_each, args.repeats)
    print(f"# ESM-2 (12 layers of 480) embeddings, {args.proteins} proteins of {min(map(len, ids))}..{max(map(len, ids))} "
          f"tokens, fp32, median of {args.repeats}; load {load_average()}")
    print(f"# {machine_line()}")
    rows += [("transformers, one padded batch", t_hf, s_hf), ("transformers, one protein at a time", t_each, s_each)]
    body = [[name, f"{t * 1000:.1f}", f"{t_hf / t:.2f}x", f"{(1 - (s * s_hf).sum(-1)).abs().max().item():.1e}"]
            for name, t, s in rows]
    print_rows(["variant", "ms", "vs transformers batch", "max cosine distance"], body, args.markdown)


def build_monot5(out: pathlib.Path) -> pathlib.Path:
    import transformers
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tokenizer = build_tokenizer("xlm_roberta")
    config = transformers.T5Config(
        vocab_size=(len(tokenizer) + 63) // 64 * 64, d_model=768, d_kv=64, d_ff=3072, num_layers=12,
        num_decoder_layers=12, num_heads=12, feed_forward_proj="relu", pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.pad_token_id,
        architectures=["T5ForConditionalGeneration"])
    torch.manual_seed(0)
    transformers.T5ForConditionalGeneration(config).eval().save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def run_monot5(args) -> None:
    from transformers import AutoTokenizer, T5ForConditionalGeneration

    rng = random.Random(1234)
    query = " ".join(rng.choice(WORDS) for _ in range(8))
    docs = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 120))) for _ in range(args.docs)]
    prompts = [f"Query: {query} Document: {d} Relevant:" for d in docs]
    with tempfile.TemporaryDirectory() as tmp:
        path = build_monot5(pathlib.Path(tmp))
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        ids = [tokenizer(p)["input_ids"] for p in prompts]
        sequences = [ScoreSequence(f"d{i}", s, i, 1, PoolingParams(activation="default")) for i, s in enumerate(ids)]
        server_args = ServerArgs(model_path=str(path), device="cpu", dtype="float32")
        worker = ModelWorker(server_args, ModelConfig.from_server_args(server_args))
        t, s = median_time(lambda: torch.cat(worker.forward(sequences)).squeeze(1), args.repeats)
        hf = T5ForConditionalGeneration.from_pretrained(str(path), dtype=torch.float32).eval()
        batch = tokenizer(prompts, padding=True, return_tensors="pt")
        labels = [tokenizer.convert_tokens_to_ids(t) for t in ("\u2581false", "\u2581true")]
        start = torch.full((len(prompts), 1), hf.config.decoder_start_token_id)

        def hf_batch():
            with torch.inference_mode():
                logits = hf(**batch, decoder_input_ids=start).logits[:, 0, labels]
            return torch.softmax(logits, -1)[:, 1]

        t_hf, s_hf = median_time(hf_batch, args.repeats)
    print(f"# MonoT5 (t5-base shape: 12+12 layers of 768), 1 query x {args.docs} documents of "
          f"{min(map(len, ids))}..{max(map(len, ids))} tokens, fp32, median of {args.repeats}; load {load_average()}")
    print(f"# {machine_line()}")
    rows = [("multiscore, every pair in one forward", t, s), ("transformers, one padded batch, one decoder step", t_hf, s_hf)]
    body = [[name, f"{t * 1000:.1f}", f"{t_hf / t:.2f}x", f"{(s - s_hf).abs().max().item():.1e}"] for name, t, s in rows]
    print_rows(["variant", "ms", "vs transformers batch", "max |p(true) diff|"], body, args.markdown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["bart", "esm", "monot5"], default="bart")
    parser.add_argument("--docs", type=int, default=32)
    parser.add_argument("--texts", type=int, default=8)
    parser.add_argument("--labels", type=int, default=8)
    parser.add_argument("--proteins", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    {"esm": run_esm, "monot5": run_monot5, "bart": run_bart}[args.model](args)


def run_bart(args) -> None:
    from transformers import AutoTokenizer, BartForSequenceClassification, pipeline

    with tempfile.TemporaryDirectory() as tmp:
        path = build_bart(pathlib.Path(tmp))
        texts, labels = workload(args.texts, args.labels)
        template = "This example is about {}."
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        pairs = [(t, template.format(label)) for t in texts for label in labels]
        ids = [tokenizer(a, b)["input_ids"] for a, b in pairs]
        pooling = PoolingParams(activation="none")
        sequences = [ScoreSequence(f"p{i}", s, i, 1, pooling) for i, s in enumerate(ids)]
        server_args = ServerArgs(model_path=str(path), device="cpu", dtype="float32")
        worker = ModelWorker(server_args, ModelConfig.from_server_args(server_args))

        def entailment(logits: torch.Tensor) -> torch.Tensor:
            """[N, 3] -> [N]: the probability of entailment against contradiction (the pipeline's multi_label)."""
            return torch.softmax(logits[:, [0, ENTAILMENT]].float(), dim=-1)[:, 1]

        rows = []
        t, s = median_time(lambda: entailment(torch.cat(worker.forward(sequences))), args.repeats)
        rows.append(("multiscore, every pair in one forward", t, s))

        hf = BartForSequenceClassification.from_pretrained(str(path), dtype=torch.float32).eval()
        batch = tokenizer([a for a, _ in pairs], [b for _, b in pairs], padding=True, return_tensors="pt")

        def hf_batch():
            with torch.inference_mode():
                return entailment(hf(**batch).logits)

        t_hf, s_hf = median_time(hf_batch, args.repeats)
        classifier = pipeline("zero-shot-classification", model=hf, tokenizer=tokenizer, device="cpu")

        def hf_pipeline():
            out = [classifier(text, labels, hypothesis_template=template, multi_label=True, batch_size=8) for text in texts]
            return torch.tensor([r["scores"][r["labels"].index(label)] for r in out for label in labels])

        t_pipe, s_pipe = median_time(hf_pipeline, args.repeats)

    print(f"# BART NLI (12+6 layers of 1024), {args.texts} texts x {args.labels} labels = {len(pairs)} pairs "
          f"of {min(map(len, ids))}..{max(map(len, ids))} tokens, fp32, median of {args.repeats}; load {load_average()}")
    print(f"# {machine_line()}")
    rows += [("transformers, every pair in one padded batch", t_hf, s_hf),
             ("transformers zero-shot pipeline, batch_size=8", t_pipe, s_pipe)]
    body = [[name, f"{t * 1000:.1f}", f"{t_hf / t:.2f}x", f"{(s - s_hf).abs().max().item():.1e}"] for name, t, s in rows]
    print_rows(["variant", "ms", "vs transformers batch", "max |p(entailment) diff|"], body, args.markdown)


if __name__ == "__main__":
    main()
