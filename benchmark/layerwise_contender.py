"""FlagEmbedding's side of bench_layerwise_reranker.py, run by a reference venv (test/reference/setup.sh).

Loads the layerwise checkpoint with FlagEmbedding's ``LayerWiseLLMReranker`` (``--kind minicpm``, from
.venv-reference, through the reference's transformers-5 shims) or ``LightweightLLMReranker`` (``--kind
lightweight``, from .venv-reference-tf4, as its model card runs it: transformers' SDPA attention,
which skips Gemma2's attention soft-capping), scores once to warm up, then
``--repeats`` times ``compute_score(pairs, cutoff_layers=[c])`` as its documentation calls it. Prints
one JSON line ``{"seconds": [...], "scores": [...], "versions": {...}}`` (scores in pair order, last run).

    .venv-reference/bin/python benchmark/layerwise_contender.py --model DIR --inputs inputs.json --cutoff 6
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "test" / "reference"))
from bench_common import timed_runs  # noqa: E402  (this folder: the script's own, first on sys.path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--inputs", required=True, help='JSON {"query": str, "documents": [str]}')
    p.add_argument("--cutoff", type=int, required=True)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128, help="FlagEmbedding's default")
    p.add_argument("--kind", choices=["minicpm", "lightweight"], default="minicpm")
    p.add_argument("--compress-ratio", type=int, default=1, help="lightweight: FlagEmbedding's token compression")
    p.add_argument("--compress-layers", type=int, nargs="+", default=[8])
    args = p.parse_args()

    from importlib.metadata import version

    import torch

    inputs = json.loads(open(args.inputs).read())
    pairs = [[inputs["query"], d] for d in inputs["documents"]]
    if args.kind == "lightweight":
        from FlagEmbedding.inference.reranker.decoder_only.lightweight import LightweightLLMReranker

        reranker = LightweightLLMReranker(args.model, use_fp16=False, devices=["cpu"], batch_size=args.batch_size)
    else:
        from flagembedding_reranker_reference import _restore, _shim_remote_code

        _shim_remote_code()
        from FlagEmbedding.inference.reranker.decoder_only.layerwise import LayerWiseLLMReranker

        reranker = LayerWiseLLMReranker(args.model, use_bf16=False, devices=["cpu"], batch_size=args.batch_size)
        _restore(reranker.model, args.model)

    compression = {"compress_ratio": args.compress_ratio, "compress_layers": args.compress_layers} \
        if args.kind == "lightweight" else {}

    def score() -> list[float]:
        return [float(s) for s in reranker.compute_score(pairs, cutoff_layers=[args.cutoff], **compression)]

    seconds, scores = timed_runs(score, args.repeats)
    print(json.dumps({"seconds": seconds, "scores": scores,
                      "versions": {"FlagEmbedding": version("FlagEmbedding"), "torch": torch.__version__,
                                   "threads": torch.get_num_threads()}}))


if __name__ == "__main__":
    main()
