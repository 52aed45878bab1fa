"""ESM C protein language models (``EsmcModel``, ``EsmcForSequenceClassification``, ``EsmcForTokenClassification``:
biohub/ESMC-300M, -600M, -6B). Inputs are amino-acid sequences (ESM's character tokenizer).

Llama's layers made bidirectional with LayerNorms: per layer x + attn(LN(x)) / s, then that + mlp(LN(that)) / s,
s = sqrt(layers / 36); the attention LayerNorms q and k over all heads at once (no bias) before the rotary;
the MLP is SwiGLU; a final LayerNorm without bias. Every LayerNorm keeps transformers' default eps (1e-5).
The bare model pools by mean (the usual protein embedding) unless sentence-transformers files say otherwise;
the classifier is ESM's head (dense, tanh, out_proj) on ``<cls>``; the token classifier a ``score`` per residue.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.attention import BatchAttention
from multiscore.layers.fused_ops import silu_mul
from multiscore.layers.linear import FusedLinear, Linear
from multiscore.layers.pooler import ClassifierHead, Pooler, PoolingMethod
from multiscore.layers.rotary import RotaryEmbedding, apply_rotary
from multiscore.models.base import BackboneEmbedder, PoolingModel, TokenClassifier
from multiscore.models.decoder import DECODER_PACKED_MODULES
from multiscore.models.xlm_roberta import XLMRobertaClassificationHead


class EsmcAttention(nn.Module):
    """``self_attn``: q/k/v fused, q and k LayerNormed over all heads, rotary, ``o_proj``."""

    def __init__(self, config) -> None:
        super().__init__()
        h = config.hidden_size
        self.num_heads, self.head_dim = config.num_attention_heads, h // config.num_attention_heads
        self.qkv_proj = FusedLinear(h, {"q": h, "k": h, "v": h}, bias=False)
        self.q_norm, self.k_norm = nn.LayerNorm(h, bias=False), nn.LayerNorm(h, bias=False)
        self.o_proj = Linear(h, h, bias=False)

    def forward(self, x: torch.Tensor, attention: BatchAttention, cos_sin, keep_rows=None) -> torch.Tensor:
        """x [T, H] -> [T, H], or [R, H] for only ``keep_rows`` (every row still serves as a key)."""
        T, H = x.shape
        q, k, v = self.qkv_proj(x).split(H, dim=-1)
        q, k = self.q_norm(q), self.k_norm(k)
        q, k, v = (t.reshape(T, self.num_heads, self.head_dim) for t in (q, k, v))
        out = attention(apply_rotary(q, *cos_sin), apply_rotary(k, *cos_sin), v, self.head_dim**-0.5)  # [T, heads, D]
        if keep_rows is not None:
            out = out.index_select(0, keep_rows)
        return self.o_proj(out.reshape(out.shape[0], H))


class EsmcLayer(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        h = config.hidden_size
        self.self_attn = EsmcAttention(config)
        self.mlp = nn.Module()
        self.mlp.gate_up_proj = FusedLinear(h, {0: config.intermediate_size, 1: config.intermediate_size}, bias=False)
        self.mlp.down_proj = Linear(config.intermediate_size, h, bias=False)
        self.input_layernorm, self.post_attention_layernorm = nn.LayerNorm(h), nn.LayerNorm(h)
        self.scale = math.sqrt(config.num_hidden_layers / 36)

    def forward(self, x: torch.Tensor, attention: BatchAttention, cos_sin, keep_rows=None) -> torch.Tensor:
        """[T, H] -> [T, H], or [R, H] for only ``keep_rows``."""
        out = self.self_attn(self.input_layernorm(x), attention, cos_sin, keep_rows)
        x = (x if keep_rows is None else x.index_select(0, keep_rows)) + out / self.scale
        return x + self.mlp.down_proj(silu_mul(self.mlp.gate_up_proj(self.post_attention_layernorm(x)))) / self.scale


class EsmcBackbone(nn.Module):
    """``embed_tokens``, ``layers.N.*``, ``norm``."""

    def __init__(self, config) -> None:
        super().__init__()
        if getattr(config, "hidden_act", "silu") != "silu":
            raise ValueError(f"ESM C with hidden_act {config.hidden_act!r} is not supported (silu is)")
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(EsmcLayer(config) for _ in range(config.num_hidden_layers))
        self.norm = nn.LayerNorm(config.hidden_size, bias=False)
        self.rotary_emb = RotaryEmbedding(config, config.hidden_size // config.num_attention_heads)

    def forward(self, batch, attention: BatchAttention, keep_rows: Optional[torch.Tensor]) -> torch.Tensor:
        """The packed batch -> final hidden states at ``keep_rows`` [R, H] ([T, H] for None)."""
        x = self.embed_tokens(batch.input_ids)  # [T, H]
        cos_sin = self.rotary_emb.cos_sin(batch.positions, x.dtype)
        for i, layer in enumerate(self.layers):
            x = layer(x, attention, cos_sin, keep_rows if i == len(self.layers) - 1 else None)
        return self.norm(x)


class EsmcModel(BackboneEmbedder):
    """The bare encoder as an embedding model (tensors under ``esmc.`` or no prefix): the mean of its tokens'
    final states, normalised, unless sentence-transformers files say otherwise."""

    packed_modules_mapping = DECODER_PACKED_MODULES
    weight_prefix_aliases = {"esmc.": "model.", "": "model."}
    default_method = PoolingMethod.MEAN

    def make_backbone(self, config) -> nn.Module:
        return EsmcBackbone(config)


class EsmcForSequenceClassification(PoolingModel):
    """``esmc.*`` + ``classifier.{dense, out_proj}`` (tanh between them) on ``<cls>``."""

    kind = ModelKind.ENCODER_CLASSIFIER
    packed_modules_mapping = DECODER_PACKED_MODULES

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__()
        self.config = config
        self.esmc = EsmcBackbone(config)
        self.classifier = XLMRobertaClassificationHead(config)
        self.pooler = Pooler(PoolingMethod.CLS, ClassifierHead(self.classifier, config))

    def hidden_states(self, batch, attention, rows):
        return self.esmc(batch, attention, rows)


class EsmcForTokenClassification(TokenClassifier):
    """``esmc.*`` + ``score`` [num_labels, H] (with its bias) on every residue."""

    packed_modules_mapping = DECODER_PACKED_MODULES
    weight_renames = {"score.": "classifier."}
    backbone_name = "esmc"

    @staticmethod
    def make_backbone(config):
        return EsmcBackbone(config)
