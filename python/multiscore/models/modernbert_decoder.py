"""ModernBERT's decoder (transformers' ``modernbert_decoder``; the Ettin decoders):
``ModernBertDecoderForCausalLM`` (read at label tokens, SGLang's /v1/score), ``ModernBertDecoderForSequenceClassification``
(its classifier at the last token) and ``ModernBertDecoderModel`` (an embedder, last token).

ModernBERT's layers (modernbert.py: pre-norm LayerNorms, none before layer 0, a GELU-gated ``Wi``/``Wo``
MLP, rotary with its own base on global and local layers), causal: q, k, v separate
(``attn.{q,k,v}_proj``, fused here), a local layer seeing its last ``local_attention // 2`` positions.
Both heads read ``head``/``lm_head`` (dense -> ``classifier_activation`` -> LayerNorm) first; the LM's
``decoder`` (tied to the embeddings) gives the logits. Causal, so MIS and the prefix cache apply.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.attention import BatchAttention
from multiscore.layers.linear import EAGER_ACTIVATIONS, FusedLinear, Linear, hf_activation
from multiscore.layers.pooler import ClassifierHead, LabelProbabilityHead, Pooler, PoolingMethod
from multiscore.layers.rotary import apply_rotary
from multiscore.models.base import PoolingModel, embedding_pooler
from multiscore.models.modernbert import ModernBertBackbone, ModernBertLayer, ModernBertMLP, _layer_norm

PACKED_MODULES = {"q_proj": ("qkv_proj", "q"), "k_proj": ("qkv_proj", "k"), "v_proj": ("qkv_proj", "v")}


class ModernBertDecoderAttention(nn.Module):
    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        h, self.num_heads = config.hidden_size, config.num_attention_heads
        self.head_dim, self.layer_id = h // self.num_heads, layer_id
        self.qkv_proj = FusedLinear(h, {"q": h, "k": h, "v": h}, bias=config.attention_bias)
        self.Wo = Linear(h, h, bias=config.attention_bias)
        self.layer_type = config.layer_types[layer_id]
        self.window = config.sliding_window if self.layer_type == "sliding_attention" else None

    def forward(self, x: torch.Tensor, rotary: dict, attention: BatchAttention, keep_rows=None) -> torch.Tensor:
        """x [T, H] -> [T, H] (or [R, H] for ``keep_rows``), before the residual add."""
        T, H = x.shape
        q, k, v = self.qkv_proj(x).view(T, 3, self.num_heads, self.head_dim).unbind(1)  # [T, heads, D] each
        cos, sin = rotary[self.layer_type]
        out = attention(apply_rotary(q, cos, sin), apply_rotary(k, cos, sin), v, self.head_dim**-0.5,
                        window=self.window, layer=self.layer_id)
        if keep_rows is not None:
            out = out.index_select(0, keep_rows)
        return self.Wo(out.reshape(out.shape[0], H))


class ModernBertDecoderLayer(ModernBertLayer):
    def __init__(self, config, index: int) -> None:
        nn.Module.__init__(self)
        self.attn_norm = _layer_norm(config) if index > 0 else None  # the embeddings' norm precedes layer 0
        self.attn = ModernBertDecoderAttention(config, index)
        self.mlp_norm = _layer_norm(config)
        self.mlp = ModernBertMLP(config)


class ModernBertDecoderBody(ModernBertBackbone):
    """``model.embeddings.{tok_embeddings,norm}``, ``model.layers.N.*``, ``model.final_norm``: the encoder's
    backbone with causal layers."""

    @staticmethod
    def make_layers(config) -> nn.ModuleList:
        return nn.ModuleList(ModernBertDecoderLayer(config, i) for i in range(config.num_hidden_layers))


class PredictionHead(nn.Module):
    """``dense`` -> ``classifier_activation`` -> ``norm`` (ModernBERT's prediction head)."""

    def __init__(self, config) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size, bias=config.classifier_bias)
        self.act = EAGER_ACTIVATIONS[hf_activation(config.classifier_activation, "classifier_activation")]
        self.norm = _layer_norm(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.act(self.dense(x)))


class _ModernBertDecoder(PoolingModel):
    packed_modules_mapping = PACKED_MODULES
    weight_prefix_aliases = {"": "model."}

    def __init__(self, config) -> None:
        super().__init__()
        self.config = config
        self.model = ModernBertDecoderBody(config)

    def hidden_states(self, batch, attention, rows):
        return self.model(batch, attention, rows)


class ModernBertDecoderModel(_ModernBertDecoder):
    kind = ModelKind.DECODER_EMBEDDING

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__(config)
        self.pooler = embedding_pooler(pooling, PoolingMethod.LAST)


class ModernBertDecoderForCausalLM(_ModernBertDecoder):
    """Logits = ``decoder(lm_head(h))``, read at each item's last token."""

    kind = ModelKind.CAUSAL_LM

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__(config)
        self.lm_head = PredictionHead(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=config.decoder_bias)
        self.pooler = Pooler(PoolingMethod.LAST, LabelProbabilityHead(lambda h: self.decoder(self.lm_head(h))))

    def tie_weights(self) -> None:
        if getattr(self.config, "tie_word_embeddings", True):
            self.decoder.weight = self.model.embeddings.tok_embeddings.weight


class ModernBertDecoderForSequenceClassification(_ModernBertDecoder):
    """``classifier(head(h))`` at each item's last token."""

    kind = ModelKind.DECODER_CLASSIFIER

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__(config)
        self.head = PredictionHead(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels, bias=config.classifier_bias)
        self.pooler = Pooler(PoolingMethod.LAST, ClassifierHead(lambda h: self.classifier(self.head(h)), config))
