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
- sentence-transformers 6 ``MultiVectorEncoder`` checkpoints (``model_type: "MultiVectorEncoder"``;
  what it saves, also after loading a pylate or Stanford checkpoint): the markers are the
  ``prompts`` (text put before a query / document, one token each: "[Q] "), the lengths and
  ``query_expansion`` (``strategy`` fixed or min, ``attend``, ``token``, ``length``) are in
  ``sentence_bert_config.json``, the skiplist in the ``MultiVectorMask`` module, and
  ``similarity_fn_name`` is ``maxsim`` or ``meanmaxsim``. It differs from pylate in small ways kept
  here: texts are not stripped, a skiplist word outside the vocabulary is dropped (pylate skips
  [UNK] rows for it), and a missing length is the model's input length.

What a missing setting means is pylate's default: "[Q] " / "[D] " ("[unused0]" / "[unused1]" for a
Stanford checkpoint), 32 and 180 tokens, query expansion on, expansion tokens not attended to, and
the ASCII punctuation characters as the skiplist.
"""

from __future__ import annotations

import os
import string
from dataclasses import dataclass
from typing import Optional

from multiscore.configs.json_files import read_json

# The names vLLM gives a ColBERT model (and Stanford's own): a late-interaction model whatever its files say.
STANFORD_ARCHITECTURES = ("HF_ColBERT", "ColBERTModel")


@dataclass(frozen=True)
class LateInteractionConfig:
    query_prefix: str  # a token inserted after a query's first token; "" for none
    document_prefix: str
    # A query is cut to (and, with expansion, padded with [MASK] to) this many tokens; a document cut
    # to document_length. None (sentence-transformers 6 without a length): the model's input length.
    query_length: Optional[int]
    document_length: Optional[int]
    do_query_expansion: bool
    attend_to_expansion_tokens: bool  # False: the [MASK] padding reads the query, and no token reads it
    skiplist_words: tuple[str, ...]  # tokens left out of a document's vectors when scoring (punctuation)
    # A Stanford checkpoint's projection size (its linear.weight rows), from config.json (``dim``,
    # ``colbert_dim`` or ``projection_dim``, as vLLM reads it), artifact.metadata, or the tensor itself.
    projection_dim: Optional[int] = None
    # sentence-transformers 6 (MultiVectorEncoder) only:
    # "min": a shorter query is expanded to query_length, a longer one kept, up to query_max_length.
    expansion_strategy: str = "fixed"
    query_max_length: Optional[int] = None  # "min", and queries without expansion: None = the input length
    skiplist_unk: bool = True  # pylate: a skiplist word outside the vocabulary skips [UNK] rows; else the word is dropped
    strip_texts: bool = True  # pylate strips texts before tokenizing
    mean_over_query: bool = False  # meanmaxsim: the MaxSim sum divided by the query's rows


def _choose(value, default):
    return default if value is None else value


def read_late_interaction_config(model_dir: str, modules: list[dict], st_model: dict, st_transformer: dict,
                                 input_length: Optional[int]) -> Optional[LateInteractionConfig]:
    """The checkpoint's ColBERT settings, or None when it is not a ColBERT checkpoint. ``modules``:
    modules.json's entries; ``st_model``: config_sentence_transformers.json (or {}); ``st_transformer``:
    sentence_bert_config.json (or {}); ``input_length``: the tokenizer's (None: the model's positions)."""
    module_types = [m.get("type", "") for m in modules]
    if st_model.get("model_type") == "MultiVectorEncoder" or any(t.endswith("MultiVectorMask") for t in module_types):
        return _multi_vector_encoder_config(model_dir, modules, st_model, st_transformer, input_length)
    if any(t.startswith("pylate.") for t in module_types) or st_model.get("similarity_fn_name") == "MaxSim":
        return _pylate_config(st_model)
    config = read_json(os.path.join(model_dir, "config.json"), {})
    architectures = config.get("architectures") or []
    if architectures and architectures[0] in STANFORD_ARCHITECTURES:
        meta = read_json(os.path.join(model_dir, "artifact.metadata"), {})
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


def _multi_vector_encoder_config(model_dir: str, modules: list[dict], st_model: dict, st_transformer: dict,
                                 input_length: Optional[int]) -> LateInteractionConfig:
    types = [m.get("type", "") for m in modules]
    masks = [m for m in modules if m.get("type", "").endswith("MultiVectorMask")]
    mask = read_json(os.path.join(model_dir, masks[0].get("path", ""), "config.json"), {}) if masks else {}
    where = os.path.join(model_dir, "modules.json")
    if any(t.endswith("TokenPooling") for t in types):
        raise ValueError(f"{where}: a token-pooling module (clustered document vectors) is not supported")
    if not any(t.endswith("Normalize") for t in types):
        raise ValueError(f"{where}: a MultiVectorEncoder without a Normalize module is not supported")
    if mask.get("keep_only_token_ids") is not None or set(mask.get("skiplist_tasks", ["document"])) - {"document"}:
        raise ValueError(f"{where}: a MultiVectorMask with keep_only_token_ids, or a skiplist on queries, is not supported")
    similarity = st_model.get("similarity_fn_name") or "maxsim"
    if similarity not in ("maxsim", "meanmaxsim", "MaxSim"):  # sentence-transformers reads any other name as maxsim
        similarity = "maxsim"
    if st_model.get("truncate_dim") is not None:
        raise ValueError("config_sentence_transformers.json: truncate_dim is not supported for a MultiVectorEncoder")
    prompts = st_model.get("prompts") or {}
    document_prompt = next((prompts[k] for k in ("document", "passage", "corpus") if k in prompts), "")
    expansion = st_transformer.get("query_expansion")
    query_length = st_transformer.get("query_length") or input_length
    if expansion is not None:
        if expansion.get("strategy") not in ("fixed", "min") or not isinstance(expansion.get("length"), int):
            raise ValueError(f"sentence_bert_config.json: unsupported query_expansion {expansion!r}")
        if expansion.get("token") is not None:
            raise ValueError("sentence_bert_config.json: a query_expansion token other than the mask token is not supported")
    return _checked(LateInteractionConfig(
        query_prefix=prompts.get("query") or "",
        document_prefix=document_prompt or "",
        # fixed: every query is expansion.length tokens; min: at least that many, at most query_length
        query_length=expansion["length"] if expansion is not None else query_length,
        document_length=st_transformer.get("document_length") or input_length,
        do_query_expansion=expansion is not None,
        attend_to_expansion_tokens=expansion is not None and bool(expansion.get("attend", False)),
        skiplist_words=tuple(mask.get("skiplist_words") or ()),
        expansion_strategy=expansion["strategy"] if expansion is not None else "fixed",
        query_max_length=query_length if expansion is not None and expansion["strategy"] == "min" else None,
        skiplist_unk=False, strip_texts=False, mean_over_query=similarity == "meanmaxsim",
    ))


def _checked(config: LateInteractionConfig) -> LateInteractionConfig:
    for name in ("query_length", "document_length"):
        need = 3 + bool(config.query_prefix if name == "query_length" else config.document_prefix)
        if getattr(config, name) is not None and getattr(config, name) < need:
            raise ValueError(f"ColBERT {name}={getattr(config, name)} leaves no room for a token between the special "
                             f"tokens (at least {need})")
    return config
