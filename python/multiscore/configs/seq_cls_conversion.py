"""LLM-as-reranker: turn a causal LM's head into a sequence-classification head at load time.

Overrides (as vLLM's ``--hf-overrides``), given with ``--json-model-override-args``:

- ``classifier_from_token: [tok, ...]`` with ``method``:
  - ``from_2_way_softmax`` (two tokens [false, true]): one label whose weight is
    ``lm_head[true] - lm_head[false]``, so ``sigmoid(score) == softmax([false, true])[1]``;
  - ``no_post_processing``: one label per token, the LM head rows themselves.
- ``is_original_qwen3_reranker: true``: shorthand for ``["no", "yes"]`` + ``from_2_way_softmax``
  (and the built-in Qwen3-Reranker score template).
- T5 rerankers (``T5ForConditionalGeneration``, models/monot5.py) take ``DEFAULT_CLASSIFIER_TOKENS``
  with ``from_2_way_softmax`` when no tokens are given.

Without overrides, a sentence-transformers 6 CrossEncoder saved on a causal LM converts itself: its
``LogitScore`` module (modules.json) names the true and false token ids, and its score
``logit[true] - logit[false]`` is ``from_2_way_softmax``'s (a true token alone: that token's row).

The architecture becomes ``<Family>ForSequenceClassification`` and ``num_labels`` follows the method.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from multiscore.configs.json_files import read_json

METHODS = ("from_2_way_softmax", "no_post_processing")
# Models that are only served as rerankers, by the tokens their answer is read at (MonoT5: "false" /
# "true"; the mT5 mMARCO rerankers: "no" / "yes"), unless classifier_from_token names others.
DEFAULT_CLASSIFIER_TOKENS = {"T5ForConditionalGeneration": ["false", "true"], "MT5ForConditionalGeneration": ["no", "yes"]}


@dataclass(frozen=True)
class HeadConversion:
    method: str
    tokens: tuple[str, ...]
    token_ids: tuple[int, ...]  # rows of the LM head (tied: of the embedding) to build the head from

    @property
    def num_labels(self) -> int:
        return 1 if self.method == "from_2_way_softmax" else len(self.tokens)


def token_id_of(tokenizer, token: str) -> int:
    """A vocabulary entry's id; else the id of a text that encodes to exactly one token."""
    vocab = tokenizer.get_vocab()
    if token in vocab:
        return vocab[token]
    ids = tokenizer(token, add_special_tokens=False)["input_ids"]
    if len(ids) != 1:
        raise ValueError(f"classifier_from_token {token!r} is not a single token of the tokenizer (encodes to {ids})")
    return ids[0]


def logit_score_ids(model_dir: str) -> Optional[tuple[int, ...]]:
    """A sentence-transformers 6 CrossEncoder's LogitScore token ids: (false, true), or (true,)."""
    modules = read_json(os.path.join(model_dir, "modules.json"), [])
    module = next((m for m in modules if m.get("type", "").endswith("LogitScore")), None)
    if module is None:
        return None
    config = read_json(os.path.join(model_dir, module.get("path", ""), "config.json"))
    true_id, false_id = config.get("true_token_id"), config.get("false_token_id")
    if not isinstance(true_id, int):
        raise ValueError(f"{module.get('path')}/config.json: LogitScore has no true_token_id")
    return (true_id,) if false_id is None else (int(false_id), true_id)


def conversion_from_config(hf_config, load_tokenizer: Callable[[], object], model_dir: Optional[str] = None
                           ) -> Optional[HeadConversion]:
    """Read the conversion overrides from ``hf_config`` (else a LogitScore module in ``model_dir``;
    None when there is neither) and set ``num_labels`` and the architecture on it."""
    tokens = getattr(hf_config, "classifier_from_token", None)
    method = getattr(hf_config, "method", None)
    if getattr(hf_config, "is_original_qwen3_reranker", False):
        tokens, method = tokens or ["no", "yes"], method or "from_2_way_softmax"
    architecture = (getattr(hf_config, "architectures", None) or [""])[0]
    if tokens is None and architecture in DEFAULT_CLASSIFIER_TOKENS:  # models/monot5.py
        tokens, method = DEFAULT_CLASSIFIER_TOKENS[architecture], method or "from_2_way_softmax"
    saved_ids = logit_score_ids(model_dir) if tokens is None and model_dir is not None else None
    if saved_ids is not None:
        tokenizer = load_tokenizer()
        method = "from_2_way_softmax" if len(saved_ids) == 2 else "no_post_processing"
        return _converted(hf_config, HeadConversion(method, tuple(tokenizer.convert_ids_to_tokens(list(saved_ids))),
                                                    saved_ids))
    if tokens is None:
        return None
    if getattr(hf_config, "final_logit_softcapping", None):
        raise ValueError("classifier_from_token: this model soft-caps its final logits (Gemma2), which a linear "
                         "classification head cannot reproduce; score it as a CausalLM with label_token_ids")
    if isinstance(tokens, str):
        tokens = [tokens]
    if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) for t in tokens):
        raise ValueError("classifier_from_token must be a non-empty list of token strings")
    method = method or "no_post_processing"  # vLLM's default
    if method not in METHODS:
        raise ValueError(f"unknown conversion method {method!r}; use one of {', '.join(METHODS)}")
    if method == "from_2_way_softmax" and len(tokens) != 2:
        raise ValueError(f"from_2_way_softmax needs two tokens [false, true], got {tokens}")
    tokenizer = load_tokenizer()
    return _converted(hf_config, HeadConversion(method, tuple(tokens), tuple(token_id_of(tokenizer, t) for t in tokens)))


def _converted(hf_config, conversion: HeadConversion) -> HeadConversion:
    hf_config.num_labels = conversion.num_labels
    arch = (getattr(hf_config, "architectures", None) or [""])[0]
    if arch.endswith("ForCausalLM"):
        hf_config.architectures = [arch[: -len("ForCausalLM")] + "ForSequenceClassification"]
    return conversion


def converted_head(token_rows: torch.Tensor, conversion: HeadConversion) -> torch.Tensor:
    """LM head rows of the conversion tokens [k, H] -> classification head weight [num_labels, H],
    computed in float32."""
    rows = token_rows.float()
    if conversion.method == "from_2_way_softmax":
        return (rows[1] - rows[0]).unsqueeze(0)
    return rows
