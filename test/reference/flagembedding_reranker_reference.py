"""bge-reranker-v2-minicpm-layerwise's reference: FlagEmbedding's ``LayerWiseLLMReranker`` (its own
copy of the MiniCPM remote code), run from the reference venv. Prints a JSON list of scores:

    python test/reference/flagembedding_layerwise_reference.py --model DIR --pairs '[["q", "d"], ...]' \
        --cutoff 28 [--prompt P] [--normalize]

fp32 on CPU (FlagEmbedding's choice there). The layerwise remote code predates transformers 5; these shims
let it run unchanged otherwise: no ``_tied_weights_keys`` list (transformers 5 expects a mapping, and
the layerwise heads tie nothing); the config's ``rope_scaling`` back to None when transformers filled
in its default (the code reads ``rope_scaling["type"]`` whenever it is set); no KV cache
(``DynamicCache.from_legacy_cache`` is gone; a single forward never uses it); and, once loaded, the
checkpoint's tensors copied in again and the rotary tables rebuilt (transformers 5 re-runs the
code's initialisation over some loaded weights and leaves its non-persistent buffers unset).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys


def _shim_remote_code() -> None:
    from FlagEmbedding.inference.reranker.decoder_only.models import configuration_minicpm_reranker as conf
    from FlagEmbedding.inference.reranker.decoder_only.models import modeling_minicpm_reranker as modeling

    modeling.LayerWiseMiniCPMForCausalLM._tied_weights_keys = None
    init = conf.LayerWiseMiniCPMConfig.__init__

    def patched_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        scaling = self.rope_scaling
        if isinstance(scaling, dict) and scaling.get("rope_type", scaling.get("type")) == "default":
            self.rope_scaling = None
        self.use_cache = False

    conf.LayerWiseMiniCPMConfig.__init__ = patched_init


def _restore(model, path: str) -> None:
    import os

    import torch
    from FlagEmbedding.inference.reranker.decoder_only.models.modeling_minicpm_reranker import MiniCPMRotaryEmbedding
    from safetensors.torch import load_file

    model.load_state_dict(load_file(os.path.join(path, "model.safetensors")), strict=True)
    for rotary in model.modules():
        if isinstance(rotary, MiniCPMRotaryEmbedding):
            rotary.inv_freq = 1.0 / (rotary.base ** (torch.arange(0, rotary.dim, 2).float() / rotary.dim))
            rotary._set_cos_sin_cache(seq_len=rotary.max_position_embeddings, device="cpu", dtype=torch.float32)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--pairs", required=True, help="a JSON list of [query, passage] pairs")
    p.add_argument("--kind", choices=["layerwise", "llm"], required=True)
    p.add_argument("--cutoffs", type=int, nargs="+", help="layerwise: the layers to read (FlagEmbedding's cutoff_layers)")
    p.add_argument("--prompts", nargs="+", default=[""], help='FlagEmbedding\'s prompt argument; "": its default')
    p.add_argument("--normalize", action="store_true")
    args = p.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)

    pairs = json.loads(args.pairs)
    result = {}
    if args.kind == "llm":
        from FlagEmbedding.inference.reranker.decoder_only.base import BaseLLMReranker

        reranker = BaseLLMReranker(args.model, use_bf16=False, devices=["cpu"])
        for prompt in args.prompts:
            scores = reranker.compute_score(pairs, prompt=prompt or None, normalize=args.normalize)
            result[prompt] = {"last": [float(s) for s in scores]}
        print(json.dumps(result))
        return
    _shim_remote_code()
    from FlagEmbedding.inference.reranker.decoder_only.layerwise import LayerWiseLLMReranker

    reranker = LayerWiseLLMReranker(args.model, use_bf16=False, devices=["cpu"])
    _restore(reranker.model, args.model)
    for prompt in args.prompts:
        scores = reranker.compute_score(pairs, cutoff_layers=args.cutoffs, prompt=prompt or None,
                                        normalize=args.normalize)
        per_layer = [scores] if len(args.cutoffs) == 1 else scores  # FlagEmbedding flattens a single layer's list
        result[prompt] = {str(c): [float(s) for s in layer] for c, layer in zip(args.cutoffs, per_layer)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
