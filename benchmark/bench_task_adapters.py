"""Benchmark: jina-embeddings-v3's task adapters chosen per request, against the adapter merged at load
and against transformers, in the same run.

One batch of ``--texts`` texts of ``--len`` tokens through the model worker (what the scheduler runs),
the checkpoint as jina-embeddings-v3 publishes it (``XLMRobertaLoRA``: base weights beside five rank-4
LoRA adapters on every Linear and Embedding). Rows:

- per-request tasks, every text one task (the adapter's low-rank terms on every row);
- per-request tasks, the texts spread over the five tasks and none (each term on its rows only);
- the task merged into the weights at load (``lora_task``: a server of that one task);
- no task (the base weights);
- transformers' ``JinaEmbeddingsV3Model`` with the task merged, the texts in one batch (the baseline).

The model is random at jina-embeddings-v3's widths (hidden 1024, MLP 4096, 16 heads) with ``--layers``
layers (it has 24), fp32; the variants take turns (``--repeats`` rounds), and each row is its median.

    python benchmark/bench_task_adapters.py [--texts 32] [--len 64] [--layers 4] [--repeats 7] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile

import torch

sys.path.insert(0, str(pathlib.Path(__file__).parent))
sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "scripts"))
sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "test"))
from bench_common import interleaved, load_average, machine_line, print_rows  # noqa: E402
from make_tiny_model import make_tiny_model  # noqa: E402
from remote_code_checkpoints import JINA_TASKS, as_jina_v3_original, jina_v3_merged_deltas, jina_v3_transformers  # noqa: E402

from multiscore.configs.model_config import ModelConfig  # noqa: E402
from multiscore.messages import PoolingParams  # noqa: E402
from multiscore.model_executor.forward_batch import ScoreSequence  # noqa: E402
from multiscore.model_executor.model_worker import ModelWorker  # noqa: E402
from multiscore.server_args import ServerArgs  # noqa: E402

TASK = 1  # retrieval.passage


def worker_for(path: pathlib.Path, **overrides) -> ModelWorker:
    extra = {"json_model_override_args": json.dumps(overrides)} if overrides else {}
    args = ServerArgs(model_path=str(path), device="cpu", dtype="float32", **extra)
    return ModelWorker(args, ModelConfig.from_server_args(args))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=32)
    parser.add_argument("--len", type=int, default=64)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        path = make_tiny_model(pathlib.Path(tmp) / "hf", arch="jina_embeddings_v3", head="embed", hidden_size=1024,
                               intermediate_size=4096, num_attention_heads=16, num_hidden_layers=args.layers)
        original, adapters = as_jina_v3_original(path, pathlib.Path(tmp) / "jina-v3", rank=4, alpha=1.0)
        gen = torch.Generator().manual_seed(0)
        vocab = json.loads((path / "config.json").read_text())["vocab_size"]
        texts = torch.randint(5, vocab, (args.texts, args.len), generator=gen)
        texts[:, 0], texts[:, -1] = 0, 2  # <s> ... </s>

        def batch(tasks):
            return [ScoreSequence(str(i), ids, 0, 1, PoolingParams(activation="default", adapter=task))
                    for i, (ids, task) in enumerate(zip(texts.tolist(), tasks))]

        one_task = batch([TASK] * args.texts)
        mixed = batch([(None, 0, 1, 2, 3, 4)[i % 6] for i in range(args.texts)])
        base = batch([None] * args.texts)
        per_request, merged = worker_for(original), worker_for(original, lora_task=JINA_TASKS[TASK])

        hf = jina_v3_transformers(path, jina_v3_merged_deltas(adapters, TASK, scaling=1.0 / 4))

        def hf_embed():
            with torch.inference_mode():
                return torch.nn.functional.normalize(hf(input_ids=texts).last_hidden_state.mean(1), dim=-1)

        variants = [("per-request task, one task on every text", lambda: torch.cat(per_request.forward(one_task))),
                    ("per-request tasks, five tasks and none in one batch", lambda: torch.cat(per_request.forward(mixed))),
                    ("the task merged at load (lora_task)", lambda: torch.cat(merged.forward(base))),
                    ("no task (base weights)", lambda: torch.cat(per_request.forward(base))),
                    ("transformers JinaEmbeddingsV3Model, task merged, one batch", hf_embed)]
        times, outputs = interleaved(variants, args.repeats)
        rows = [(name, times[name], outputs[name] if i in (0, 2, 4) else None) for i, (name, _) in enumerate(variants)]
        (_, t_one, e_one), (_, t_merged, e_merged), (_, t_hf, e_hf) = rows[0], rows[2], rows[4]

    print(f"# jina-embeddings-v3 ({args.layers} layers at its widths), {args.texts} texts x {args.len} tokens, fp32, "
          f"each variant's median of {args.repeats} turns; load {load_average()}")
    print(f"# {machine_line()}")
    table = [[name, f"{t * 1000:.1f}", f"{t_hf / t:.2f}x", f"{t / t_merged:.2f}x",
              "" if e is None else f"{(e - e_hf).abs().max().item():.1e}"] for name, t, e in rows]
    print_rows(["variant", "ms", "vs transformers", "time vs merged", "max |diff| vs transformers"], table,
               args.markdown)
    print(f"# per-request adapter cost over the merged weights: {t_one / t_merged:.2f}x; "
          f"same embeddings: {(e_one - e_merged).abs().max().item():.1e}")


if __name__ == "__main__":
    main()
