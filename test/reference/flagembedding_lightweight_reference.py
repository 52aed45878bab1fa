"""bge-reranker-v2.5-gemma2-lightweight's reference: FlagEmbedding's ``LightweightLLMReranker`` and its
``CostWiseGemmaForCausalLM``, run unchanged from the transformers-4 reference venv (the model code
predates transformers 5; ``bash test/reference/setup.sh`` makes that venv too).

    python test/reference/flagembedding_lightweight_reference.py make --out DIR --tokenizer-json FILE \
        --layers 4 --start 2 --sep 1 [--seed 0] [--hidden 64 --intermediate 128 --heads 4 --head-dim 16 --window 8]
    python test/reference/flagembedding_lightweight_reference.py score --model DIR --pairs '[["q", "d"], ...]' \
        --cutoffs 2 3 4 [--prompts "" P ...] [--attention eager] [--compress-ratio 1 --compress-layers 2]

``make`` saves a tiny random checkpoint as FlagEmbedding's own class and transformers 4 save it (its
config.json, ``lm_head.{i}.linear_head`` heads), with the tokenizer built from ``FILE`` saved the same
way. ``score`` prints {prompt ("": its default): {cut layer: [N scores]}} as JSON: fp32 on CPU, raw logits,
each cut read alone (``compute_score(cutoff_layers=[c])``, what a server reading one cut answers:
FlagEmbedding's model reads the i-th cut it is asked for through head i, so a lone cut through head 0).

``--attention``: transformers' attention implementation. FlagEmbedding's model class leaves transformers'
default, SDPA, which skips Gemma2's ``attn_logit_softcapping`` (transformers' own Gemma2 classes switch
to eager for it); ``eager`` soft-caps the attention scores as the config says.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys


def make(args) -> None:
    import torch
    from FlagEmbedding.inference.reranker.decoder_only.models.gemma_config import CostWiseGemmaConfig
    from FlagEmbedding.inference.reranker.decoder_only.models.gemma_model import CostWiseGemmaForCausalLM
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(tokenizer_file=args.tokenizer_json, bos_token="<bos>", eos_token="<eos>",
                                        pad_token="<pad>", unk_token="<unk>", additional_special_tokens=["<|sep|>"])
    # Gemma2's shape in miniature (by default): sliding-window layers (a window shorter than the prompts),
    # soft-capped attention and final logits, query_pre_attn_scalar unlike head_dim.
    config = CostWiseGemmaConfig(
        vocab_size=(len(tokenizer) + 63) // 64 * 64, hidden_size=args.hidden, intermediate_size=args.intermediate,
        num_hidden_layers=args.layers, num_attention_heads=args.heads, num_key_value_heads=args.heads // 2,
        head_dim=args.head_dim, query_pre_attn_scalar=args.head_dim * 3 // 2, sliding_window=args.window,
        attn_logit_softcapping=50.0, final_logit_softcapping=3.0,
        max_position_embeddings=4096, initializer_range=0.1, start_layer=args.start, layer_sep=args.sep,
        layer_wise=True, bos_token_id=tokenizer.bos_token_id, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, architectures=["CostWiseGemmaForCausalLM"])
    torch.manual_seed(args.seed)
    model = CostWiseGemmaForCausalLM(config).eval()
    with torch.no_grad():  # norm weights away from their zero init (Gemma2's norms scale by 1 + w)
        for name, p in model.named_parameters():
            if "norm" in name:
                p.normal_(0.0, 0.2)
    model.save_pretrained(args.out, safe_serialization=True)
    tokenizer.save_pretrained(args.out)


def score(args) -> None:
    from FlagEmbedding.inference.reranker.decoder_only.lightweight import LightweightLLMReranker

    reranker = LightweightLLMReranker(args.model, use_fp16=False, use_bf16=False, devices=["cpu"],
                                          trust_remote_code=False)
    if args.attention:
        reranker.model.config._attn_implementation = args.attention  # read by every layer at each call
    pairs = json.loads(args.pairs)
    result = {}
    for prompt in args.prompts:
        result[prompt] = {str(c): [float(s) for s in reranker.compute_score(
            pairs, cutoff_layers=[c], prompt=prompt or None, compress_ratio=args.compress_ratio,
            compress_layers=args.compress_layers)] for c in args.cutoffs}
    print(json.dumps(result))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("--out", required=True)
    m.add_argument("--tokenizer-json", required=True)
    m.add_argument("--layers", type=int, required=True)
    m.add_argument("--start", type=int, required=True)
    m.add_argument("--sep", type=int, default=1)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--hidden", type=int, default=64)
    m.add_argument("--intermediate", type=int, default=128)
    m.add_argument("--heads", type=int, default=4, help="query heads; half as many key/value heads")
    m.add_argument("--head-dim", type=int, default=16)
    m.add_argument("--window", type=int, default=8, help="the sliding layers' window")
    s = sub.add_parser("score")
    s.add_argument("--model", required=True)
    s.add_argument("--pairs", required=True, help="a JSON list of [query, passage] pairs")
    s.add_argument("--cutoffs", type=int, nargs="+", required=True, help="FlagEmbedding's cutoff_layers")
    s.add_argument("--prompts", nargs="+", default=[""], help='FlagEmbedding\'s prompt argument; "": its default')
    s.add_argument("--attention", choices=["eager", "sdpa"], help="default: FlagEmbedding's (SDPA)")
    s.add_argument("--compress-ratio", type=int, default=1)
    s.add_argument("--compress-layers", type=int, nargs="+", default=[8])
    args = p.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    make(args) if args.command == "make" else score(args)


if __name__ == "__main__":
    main()
