"""How a ColBERT (late-interaction) checkpoint wants its queries and documents tokenized, read from
its files the way pylate, the library these checkpoints are made with, reads them.

- pylate checkpoints (lightonai/GTE-ModernColBERT-v1, mxbai-edge-colbert, answerai-colbert-small-v1's
  pylate files): ``config_sentence_transformers.json`` holds ``query_prefix`` / ``document_prefix``
  (a token put after the first token: "[Q] ", "[D] "), ``query_length``, ``document_length``,
  ``do_query_expansion``, ``attend_to_expansion_tokens`` and ``skiplist_words``; ``modules.json``
  lists ``pylate.models.Dense.Dense`` projections.
- Stanford checkpoints (colbert-ir/colbertv2.0: ``"architectures": ["HF_ColBERT"]``): the projection
  is ``linear.weight`` in the checkpoint, and ``artifact.metadata`` holds ``query_token_id``,
  ``doc_token_id``, ``query_maxlen``, ``doc_maxlen`` and ``attend_to_mask_tokens``.

What a missing setting means is pylate's default: "[Q] " / "[D] " ("[unused0]" / "[unused1]" for a
Stanford checkpoint), 32 and 180 tokens, query expansion on, expansion tokens not attended to, and
the ASCII punctuation characters as the skiplist.
"""

from __future__ import annotations

import json
import os
import string
from dataclasses import dataclass
from typing import Optional

# The names vLLM gives a ColBERT model (and Stanford's own): a late-interaction model whatever its files say.
STANFORD_ARCHITECTURES = ("HF_ColBERT", "ColBERTModel")


@dataclass(frozen=True)
class LateInteractionConfig:
    query_prefix: str  # a token inserted after a query's first token; "" for none
    document_prefix: str
    query_length: int  # a query is cut to (and, with expansion, padded with [MASK] to) this many tokens
    document_length: int  # a document is cut to this many tokens
    do_query_expansion: bool
    attend_to_expansion_tokens: bool  # False: the [MASK] padding reads the query, and no token reads it
    skiplist_words: tuple[str, ...]  # tokens left out of a document's vectors when scoring (punctuation)
    # A Stanford checkpoint's projection size (its linear.weight rows), from config.json (``dim``,
    # ``colbert_dim`` or ``projection_dim``, as vLLM reads it), artifact.metadata, or the tensor itself.
    projection_dim: Optional[int] = None


def _read_json(path: str) -> dict:
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _choose(value, default):
    return default if value is None else value


def read_late_interaction_config(model_dir: str, module_types: list[str], st_model: dict) -> Optional[LateInteractionConfig]:
    """The checkpoint's ColBERT settings, or None when it is not a ColBERT checkpoint. ``module_types``:
    the types listed in modules.json; ``st_model``: config_sentence_transformers.json (or {})."""
    if any(t.startswith("pylate.") for t in module_types) or st_model.get("similarity_fn_name") == "MaxSim":
        return _pylate_config(st_model)
    config = _read_json(os.path.join(model_dir, "config.json"))
    architectures = config.get("architectures") or []
    if architectures and architectures[0] in STANFORD_ARCHITECTURES:
        meta = _read_json(os.path.join(model_dir, "artifact.metadata"))
        return _stanford_config(meta, _projection_dim(model_dir, config, meta))
    return None


def _projection_dim(model_dir: str, config: dict, meta: dict) -> Optional[int]:
    for source, key in ((config, "dim"), (config, "colbert_dim"), (config, "projection_dim"), (meta, "dim")):
        if source.get(key):
            return int(source[key])
    from multiscore.model_executor.checkpoint_files import tensor_shape

    shape = tensor_shape(model_dir, "linear.weight")
    return None if shape is None else int(shape[0])


def _pylate_config(st: dict) -> LateInteractionConfig:
    expansion = bool(_choose(st.get("do_query_expansion"), True))
    return _checked(LateInteractionConfig(
        query_prefix=_choose(st.get("query_prefix"), "[Q] "),
        document_prefix=_choose(st.get("document_prefix"), "[D] "),
        query_length=int(_choose(st.get("query_length"), 32)),
        document_length=int(_choose(st.get("document_length"), 180)),
        do_query_expansion=expansion,
        # pylate: without expansion there is nothing to attend to.
        attend_to_expansion_tokens=expansion and bool(_choose(st.get("attend_to_expansion_tokens"), False)),
        skiplist_words=tuple(_choose(st.get("skiplist_words"), list(string.punctuation))),
    ))


def _stanford_config(meta: dict, projection_dim: Optional[int]) -> LateInteractionConfig:
    return _checked(LateInteractionConfig(
        query_prefix=_choose(meta.get("query_token_id"), "[unused0]"),
        document_prefix=_choose(meta.get("doc_token_id"), "[unused1]"),
        query_length=int(_choose(meta.get("query_maxlen"), 32)),
        document_length=int(_choose(meta.get("doc_maxlen"), 180)),
        do_query_expansion=True,
        attend_to_expansion_tokens=bool(_choose(meta.get("attend_to_mask_tokens"), False)),
        skiplist_words=tuple(string.punctuation),
        projection_dim=projection_dim,
    ))


def _checked(config: LateInteractionConfig) -> LateInteractionConfig:
    for name in ("query_length", "document_length"):
        need = 3 + bool(config.query_prefix if name == "query_length" else config.document_prefix)
        if getattr(config, name) < need:
            raise ValueError(f"ColBERT {name}={getattr(config, name)} leaves no room for a token between the special "
                             f"tokens (at least {need})")
    return config
