"""GritLM's reference: the ``gritlm`` package's ``GritLM.encode`` (mode embedding, mean pooling,
bidirectional ``bbcc`` attention), run from the reference venv. Prints, per instruction, the
texts' embeddings (a JSON object: instruction -> list of embeddings):

    python test/reference/gritlm_reference.py --model DIR --texts '["a", ...]' --instructions '["I", ...]'

Each instruction is put before each text and left out of the mean, as the package does (GritLM's
``<|user|>\\n...\\n<|embed|>\\n``, or ``<|embed|>\\n`` alone). fp32 on CPU. GritLM/GritLM-7B runs with
its remote code, a MistralModel whose forward takes ``is_causal``; this shim gives transformers'
MistralModel the same: ``is_causal=False`` turns the padding mask into an additive [B, 1, L, L]
mask that hides only the padding, so every token sees every other.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys


def _takes_is_causal(model) -> None:
    import torch

    forward = model.forward

    def patched(input_ids=None, attention_mask=None, is_causal=True, **kwargs):
        if not is_causal:
            for layer in model.layers:
                layer.self_attn.is_causal = False
            keys = attention_mask[:, None, None, :].to(torch.float32)  # [B, 1, 1, L]
            hidden = (1.0 - keys) * torch.finfo(torch.float32).min
            attention_mask = hidden.expand(-1, 1, attention_mask.shape[1], -1)  # [B, 1, L, L]
        return forward(input_ids=input_ids, attention_mask=attention_mask, **kwargs)

    model.forward = patched


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--texts", required=True, help="a JSON list of texts")
    p.add_argument("--instructions", default='[""]', help="a JSON list of instructions")
    args = p.parse_args()

    import torch
    from gritlm import GritLM

    with contextlib.redirect_stdout(sys.stderr):  # the package prints what it made
        model = GritLM(args.model, mode="embedding", pooling_method="mean", attn="bbcc", device="cpu", dtype=torch.float32)
    _takes_is_causal(model.model)
    texts = json.loads(args.texts)
    print(json.dumps({instruction: model.encode(texts, instruction=instruction, batch_size=4).tolist()
                      for instruction in json.loads(args.instructions)}))


if __name__ == "__main__":
    main()
