"""ColBERT (late-interaction) models under the names their checkpoints and vLLM give them.

- ``HF_ColBERT`` (Stanford's colbert-ai: colbert-ir/colbertv2.0, answerdotai/answerai-colbert-small-v1)
  and ``ColBERTModel`` (vLLM's name for the same): a BERT encoder (``bert.*``) and ``linear``, a
  projection without bias from the hidden size to ``dim``, applied to every token.
- ``ColBERTModernBertModel`` (vLLM's name, for lightonai/GTE-ModernColBERT-v1): a ModernBERT encoder
  and pylate's Dense layers.

A pylate checkpoint needs no special name: a bare encoder (BertModel, ModernBertModel ...) whose
modules.json lists pylate's Dense layers is served as ColBERT (configs/late_interaction_config.py).
"""

from __future__ import annotations

from typing import Optional

from torch import nn

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.late_interaction_pooler import LateInteractionPooler
from multiscore.models.bert import BertModel
from multiscore.models.modernbert import ModernBertModel


def _projection_dim(config, pooling: Optional[PoolingConfig]) -> int:
    """``dim`` as vLLM reads it from the config (an override may set it), else from the checkpoint's files."""
    for key in ("dim", "colbert_dim", "projection_dim"):
        if getattr(config, key, None):
            return int(getattr(config, key))
    late = pooling.late_interaction if pooling is not None else None
    if late is None or late.projection_dim is None:
        raise ValueError("the ColBERT projection size is unknown: no 'dim' in config.json or artifact.metadata and no "
                         "linear.weight in the checkpoint; set it with --json-model-override-args '{\"dim\": 128}'")
    return late.projection_dim


class HF_ColBERT(BertModel):  # noqa: N801 (the checkpoint's own architecture name)
    kind = ModelKind.ENCODER_LATE_INTERACTION

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__(config, pooling)
        self.linear = nn.Linear(config.hidden_size, _projection_dim(config, pooling), bias=False)
        self.pooler = LateInteractionPooler(self.linear)


ColBERTModel = HF_ColBERT


class ColBERTModernBertModel(ModernBertModel):
    kind = ModelKind.ENCODER_LATE_INTERACTION

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        if pooling is None or not pooling.dense:
            raise ValueError("ColBERTModernBertModel needs the checkpoint's pylate Dense layers (modules.json, 1_Dense)")
        super().__init__(config, pooling)  # its pooler: pylate's Dense layers on every token
