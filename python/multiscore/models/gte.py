"""Alibaba's GTE encoders: gte-multilingual-base / -reranker-base, gte-base/large-en-v1.5 (``ntk``
rope scaling: layers/rotary.py), Snowflake arctic-embed-m-v2.0.

transformers names them ``GteModel``, ``GteForSequenceClassification``, ``GteForTokenClassification``
(model_type ``gte``); the original remote code ``NewModel``, ``NewForSequenceClassification``,
``NewForTokenClassification`` (model_type ``new``, read without the remote code: configs/checkpoint_layouts.py).
Both save one tensor layout, the original's: ``encoder.layer.N.attention.qkv_proj`` (q, k, v
stacked), ``attention.o_proj``, ``attn_ln``, ``mlp.up_gate_proj`` ([up; gate] stacked),
``mlp.down_proj``, ``mlp_ln``; the heads' backbone is ``gte.`` (transformers) or ``new.`` (original).

BERT's post-norm layers with rotary instead of position embeddings and a gated MLP:
``down(act(gate) · up)``, biases on q/k/v, o and down only.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.configs.attention_geometry import head_dim_of
from multiscore.layers.attention import BatchAttention
from multiscore.layers.linear import EAGER_ACTIVATIONS, FusedLinear, Linear, hf_activation
from multiscore.layers.rotary import RotaryEmbedding
from multiscore.models.base import BackboneEmbedder, PooledClassifier, TokenClassifier
from multiscore.models.bert import BertPooler
from multiscore.models.rotary_encoder import RotaryEncoderAttention, post_norm_residuals

# The original code's options, each with the only value these layers compute (the released
# checkpoints' values): a config setting another is refused, never scored wrongly.
ORIGINAL_FIXED_OPTIONS = {
    "position_embedding_type": "rope", "layer_norm_type": "layer_norm", "logn_attention_scale": False,
    "pack_qkv": True,
}


def check_config(config) -> None:
    """Refuse what these layers do not compute (ValueError)."""
    for key, served in ORIGINAL_FIXED_OPTIONS.items():
        value = getattr(config, key, served)
        if value != served:
            raise ValueError(f"GTE config {key}={value!r} is not supported (only {served!r})")
    rotary_dim = getattr(config, "rotary_emb_dim", None)
    if rotary_dim is not None and rotary_dim != head_dim_of(config):
        raise ValueError(f"GTE config rotary_emb_dim={rotary_dim} is not supported (only the head size, {head_dim_of(config)})")
    hf_activation(config.hidden_act)


class GteEmbeddings(nn.Module):
    """Word and (unless ``type_vocab_size`` is 0, as in gte-base-en-v1.5) token-type embeddings, then LayerNorm."""

    def __init__(self, config) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        types = getattr(config, "type_vocab_size", 0)
        self.token_type_embeddings = nn.Embedding(types, config.hidden_size) if types else None
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        """[T] each -> [T, H]."""
        x = self.word_embeddings(input_ids)
        if self.token_type_embeddings is not None:
            x = x + self.token_type_embeddings(token_type_ids)
        return self.LayerNorm(x)


class GteMLP(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        inter = config.intermediate_size
        self.up_gate_proj = FusedLinear(config.hidden_size, {"up": inter, "gate": inter}, bias=False)
        self.down_proj = Linear(inter, config.hidden_size, bias=True)
        self.act = EAGER_ACTIVATIONS[hf_activation(config.hidden_act)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up, gate = self.up_gate_proj(x).chunk(2, dim=-1)  # [T, I] each
        return self.down_proj(self.act(gate).mul_(up))


class GteLayer(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.attention = RotaryEncoderAttention(config, bias=True)
        self.attn_ln = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = GteMLP(config)
        self.mlp_ln = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor, cos, sin, attention: BatchAttention, keep_rows=None) -> torch.Tensor:
        out = self.attention(x, cos, sin, attention, keep_rows)
        return post_norm_residuals(x, out, keep_rows, self.attn_ln, self.mlp, self.mlp_ln)


class GteEncoder(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.layer = nn.ModuleList(GteLayer(config) for _ in range(config.num_hidden_layers))


class GteBackbone(nn.Module):
    """``embeddings.*``, ``encoder.layer.N.*`` and, where the classifier reads it, ``pooler.dense``."""

    def __init__(self, config, add_pooler: bool) -> None:
        super().__init__()
        check_config(config)
        self.embeddings = GteEmbeddings(config)
        self.encoder = GteEncoder(config)
        self.rotary_emb = RotaryEmbedding(config, head_dim_of(config))
        self.pooler = BertPooler(config) if add_pooler else None

    def forward(self, batch, attention: BatchAttention, keep_rows: Optional[torch.Tensor]) -> torch.Tensor:
        """The packed batch -> final hidden states at ``keep_rows`` [R, H] ([T, H] for None)."""
        x = self.embeddings(batch.input_ids, batch.token_type_ids)
        cos, sin = self.rotary_emb.cos_sin(batch.positions, x.dtype)
        layers = self.encoder.layer
        for i, layer in enumerate(layers):
            x = layer(x, cos, sin, attention, keep_rows if i == len(layers) - 1 else None)
        return x


class GteModel(BackboneEmbedder):
    """The bare encoder as an embedding model (gte-multilingual-base pools the first token)."""

    weight_prefix_aliases = {"gte.": "model.", "new.": "model.", "": "model."}

    def make_backbone(self, config) -> nn.Module:
        return GteBackbone(config, add_pooler=False)


class GteForSequenceClassification(PooledClassifier):
    """``gte.*`` (with its tanh pooler) + ``classifier`` on the first token (gte-multilingual-reranker-base)."""

    weight_prefix_aliases = {"new.": "gte."}
    backbone_name = "gte"

    @staticmethod
    def make_backbone(config):
        return GteBackbone(config, add_pooler=True)


class GteForTokenClassification(TokenClassifier):
    weight_prefix_aliases = {"new.": "gte."}
    backbone_name = "gte"

    @staticmethod
    def make_backbone(config):
        return GteBackbone(config, add_pooler=False)


# The original remote code's class names, for checkpoints that still name them.
NewModel = GteModel
NewForSequenceClassification = GteForSequenceClassification
# vLLM's names for them (its docs have users set them with --hf-overrides).
GteNewModel, GteNewForSequenceClassification = GteModel, GteForSequenceClassification
NewForTokenClassification = GteForTokenClassification
