"""Benchmark: LoRA adapters chosen per request (``--lora-modules``) against the base model and against the
adapter merged into a checkpoint, in the same run, and PEFT's model as the contender.

A reranker read at 3 label tokens (a Qwen3 causal LM, as Qwen3-Reranker) at Qwen3-0.6B's widths
(hidden 1024, MLP 3072, 16 heads of 128, 8 kv heads) with ``--layers`` layers, and two PEFT adapters of
rank ``--rank`` on every attention and MLP projection. One MIS request (a ``--query``-token query and
``--items`` items of ``--item-len`` tokens) per pass through the model worker. Rows:

- the base model;
- one adapter on every row;
- the two adapters, one MIS sequence each, in one batch;
- the adapter merged into the weights (PEFT's ``merge_and_unload``, saved and served as a checkpoint):
  what a server per adapter would run;
- PEFT's model (transformers with the adapter), every (query + item) pair in one batch, the last token's logits.

The variants take turns (``--repeats`` rounds, each row its median), fp32.

    python benchmark/bench_lora.py [--layers 4] [--rank 16] [--query 256] [--items 32] [--item-len 16] [--repeats 5] [--markdown]
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

import torch

sys.path.insert(0, str(pathlib.Path(__file__).parent))
sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "scripts"))
sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "test"))
from bench_common import interleaved, load_average, machine_line, print_rows  # noqa: E402
from make_tiny_model import build_tokenizer  # noqa: E402
from peft_adapters import make_lora_adapter  # noqa: E402

from multiscore.configs.model_config import ModelConfig  # noqa: E402
from multiscore.messages import PoolingParams  # noqa: E402
from multiscore.model_executor.forward_batch import ScoreSequence  # noqa: E402
from multiscore.model_executor.mis_layout import pack_mis  # noqa: E402
from multiscore.model_executor.model_worker import ModelWorker  # noqa: E402
from multiscore.server_args import ServerArgs  # noqa: E402

VOCAB, DELIMITER, LABELS = 32768, 4, [1000, 2000, 3000]
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def build(out: pathlib.Path, layers: int, rank: int) -> tuple[pathlib.Path, pathlib.Path, pathlib.Path, pathlib.Path]:
    """-> (base checkpoint, adapter one, adapter two, adapter one merged into a checkpoint)."""
    import transformers
    from peft import PeftModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    config = transformers.Qwen3Config(vocab_size=VOCAB, hidden_size=1024, intermediate_size=3072, num_hidden_layers=layers,
                                      num_attention_heads=16, num_key_value_heads=8, head_dim=128,
                                      architectures=["Qwen3ForCausalLM"])
    torch.manual_seed(0)
    base = out / "base"
    transformers.Qwen3ForCausalLM(config).eval().save_pretrained(base)
    build_tokenizer("qwen3").save_pretrained(base)
    one = make_lora_adapter(base, out / "one", TARGETS, r=rank, alpha=2.0 * rank, seed=1)
    two = make_lora_adapter(base, out / "two", TARGETS, r=rank, alpha=2.0 * rank, seed=2)
    merged = out / "merged"
    model = transformers.AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    PeftModel.from_pretrained(model, str(one)).merge_and_unload().save_pretrained(merged)
    build_tokenizer("qwen3").save_pretrained(merged)
    return base, one, two, merged


def worker_for(path: pathlib.Path, **kw) -> ModelWorker:
    args = ServerArgs(model_path=str(path), device="cpu", dtype="float32", disable_radix_cache=True, **kw)
    return ModelWorker(args, ModelConfig.from_server_args(args))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--query", type=int, default=256)
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--item-len", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        base, one, two, merged = build(pathlib.Path(tmp), args.layers, args.rank)
        gen = torch.Generator().manual_seed(1234)
        query = torch.randint(10, VOCAB, (args.query,), generator=gen).tolist()
        items = torch.randint(10, VOCAB, (args.items, args.item_len), generator=gen).tolist()

        def mis(adapter, rid="m"):
            pooling = PoolingParams(label_token_ids=LABELS, activation="softmax", adapter=adapter)
            return ScoreSequence(rid, pack_mis(query, items, DELIMITER), 0, len(items), pooling, query_len=len(query),
                                 item_lens=[len(it) for it in items])

        served, merged_worker = worker_for(base, lora_modules=(f"one={one}", f"two={two}")), worker_for(merged)

        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32),
                                               str(one)).eval()
        pairs = torch.tensor([query + it for it in items])

        def peft_scores():
            with torch.inference_mode():
                return torch.softmax(peft_model(input_ids=pairs, logits_to_keep=1).logits[:, -1, LABELS], dim=-1)

        variants = [("base model", lambda: torch.cat(served.forward([mis(None)]))),
                    ("adapter one on every row", lambda: torch.cat(served.forward([mis(0)]))),
                    ("adapters one and two, a request each, one batch (twice the work)",
                     lambda: torch.cat(served.forward([mis(0, "a"), mis(1, "b")]))),
                    ("adapter one merged into a checkpoint", lambda: torch.cat(merged_worker.forward([mis(None)]))),
                    ("PEFT (transformers + adapter one), all pairs in one batch", peft_scores)]
        times, outputs = interleaved(variants, args.repeats)

    print(f"# Qwen3 reranker ({args.layers} layers at Qwen3-0.6B's widths), LoRA rank {args.rank} on q/k/v/o/gate/up/down, "
          f"MIS query {args.query} + {args.items} items x {args.item_len}, fp32, each variant's median of "
          f"{args.repeats} turns; load {load_average()}")
    print(f"# {machine_line()}")
    base_t, merged_t, peft_t = times[variants[0][0]], times[variants[3][0]], times[variants[4][0]]
    reference = outputs[variants[4][0]]
    rows = []
    for name, _ in variants:
        t = times[name]
        diff = "" if name.startswith(("base", "adapters one and two")) else f"{(outputs[name][:args.items] - reference).abs().max().item():.1e}"
        rows.append([name, f"{t * 1000:.1f}", f"{t / base_t:.2f}x", f"{t / merged_t:.2f}x", f"{peft_t / t:.2f}x", diff])
    print_rows(["variant", "ms", "time vs base", "time vs merged", "speed vs PEFT", "max |diff| vs PEFT"], rows,
               args.markdown)


if __name__ == "__main__":
    main()
