"""A cross-encoder's relevance activation: what vLLM's /score and rerank (and sentence-transformers'
``CrossEncoder.predict``) apply to its logits, named in the checkpoint's ``config.json``.

sentence-transformers 6 writes it as ``"activation_fn": "torch.nn.modules..."`` in
``config_sentence_transformers.json`` (pooling_config.adopt_saved_activation moves it onto the
config, where it wins, as in sentence-transformers 6); v4 and v5 as ``"sentence_transformers":
{"activation_fn": ...}`` in ``config.json``; before v4, as ``"sbert_ce_default_activation_function"``. The best-known case:
cross-encoder/ms-marco-MiniLM-L-6-v2 says ``torch.nn.modules.linear.Identity``, so its relevance
scores are raw logits (about -11..11), not sigmoids. Without either key the classifier's own rule
applies (``pooler.config_activation``: sigmoid for one label).

Only classes under ``torch.nn.modules`` are built (vLLM's restriction): a checkpoint never names code
we run. Another path is logged and ignored (what sentence-transformers does without
``trust_remote_code``).
"""

from __future__ import annotations

import importlib
import logging
from typing import Callable, Optional

import torch

logger = logging.getLogger(__name__)

_TRUSTED_PREFIX = "torch.nn.modules."
# Sigmoid and Softmax mean "the classifier's rule" (sigmoid for one label, softmax over several), as
# vLLM reads them; Identity means raw logits.
_AS_KIND = {"Identity": "none", "Sigmoid": "classify", "Softmax": "classify"}


def configured_activation_path(hf_config) -> Optional[str]:
    """The dotted activation class a sentence-transformers cross-encoder's config names, else None."""
    st = getattr(hf_config, "sentence_transformers", None)
    if isinstance(st, dict) and st.get("activation_fn"):
        return str(st["activation_fn"])
    legacy = getattr(hf_config, "sbert_ce_default_activation_function", None)
    return str(legacy) if legacy else None


def score_activation(hf_config, classify_kind: str) -> tuple[str, Optional[Callable[[torch.Tensor], torch.Tensor]]]:
    """-> (kind, module): kind ``none``/``sigmoid``/``softmax`` (``classify_kind`` when the config
    names none, Sigmoid or Softmax), or ``module`` with the activation to call on the [N, C] logits.
    Raises ValueError for a ``torch.nn.modules`` path that names no activation class."""
    path = configured_activation_path(hf_config)
    if path is None:
        return classify_kind, None
    if not path.startswith(_TRUSTED_PREFIX):
        logger.warning("config.json names the cross-encoder activation %r, outside %s: ignored, relevance "
                       "scores use %s (as sentence-transformers does without trust_remote_code)",
                       path, _TRUSTED_PREFIX, classify_kind)
        return classify_kind, None
    logger.info("relevance scores (/score, rerank): the cross-encoder activation %s from config.json", path)
    module_name, _, class_name = path.rpartition(".")
    kind = _AS_KIND.get(class_name)
    if kind is not None:
        return (classify_kind if kind == "classify" else kind), None
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"config.json names the cross-encoder activation {path!r}, which torch does not have: {e}") from None
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise ValueError(f"config.json names the cross-encoder activation {path!r}, which is not a torch.nn.Module")
    try:
        module = cls()
    except TypeError as e:
        raise ValueError(f"the cross-encoder activation {path!r} cannot be built without arguments: {e}") from None
    return "module", module
