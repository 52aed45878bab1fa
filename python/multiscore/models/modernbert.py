"""ModernBERT encoders (``ModernBertModel``, ``ModernBertForSequenceClassification``: modernbert-embed,
gte-reranker-modernbert). Pre-norm layers (``attn_norm`` — none before layer 0 — and ``mlp_norm``),
fused ``Wqkv``, a GELU-gated MLP (``Wi`` = [input | gate]), LayerNorms (biased only with ``norm_bias``),
``final_norm``; no position embeddings but rotary, with its own base on global and on local layers.
Every ``global_attn_every_n_layers``-th layer is global; the others see the keys at most
``local_attention // 2`` positions away on either side (the torch backend's bidirectional window;
FlashInfer has none, so with it the context stops at ``local_attention // 2`` tokens, where the
window hides no key: configs/attention_geometry.context_length_of). Sequences are packed unpadded, as
ModernBERT was built to run."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.attention import BatchAttention
from multiscore.layers.linear import EAGER_ACTIVATIONS, Linear, hf_activation
from multiscore.layers.pooler import ClassifierHead, Pooler, PoolingMethod
from multiscore.layers.rotary import RotaryEmbedding, apply_rotary
from multiscore.models.base import BackboneEmbedder, PoolingModel

def _layer_norm(config) -> nn.LayerNorm:
    return nn.LayerNorm(config.hidden_size, eps=config.norm_eps, bias=config.norm_bias)


def layer_types(config) -> list[str]:
    types = getattr(config, "layer_types", None)
    if types:
        return list(types[: config.num_hidden_layers])
    every = config.global_attn_every_n_layers
    return ["full_attention" if i % every == 0 else "sliding_attention" for i in range(config.num_hidden_layers)]


def local_window(config) -> int:
    """The backend's bidirectional window: keys at most local_attention // 2 away, i.e. |p - k| < that + 1."""
    return config.local_attention // 2 + 1


class ModernBertAttention(nn.Module):
    def __init__(self, config, local: bool) -> None:
        super().__init__()
        h = config.hidden_size
        if h % config.num_attention_heads:
            raise ValueError("hidden_size must be a multiple of num_attention_heads")
        self.num_heads = config.num_attention_heads
        self.head_dim = h // self.num_heads
        self.Wqkv = Linear(h, 3 * h, bias=config.attention_bias)  # [q | k | v], heads in order within each
        self.Wo = Linear(h, h, bias=config.attention_bias)
        self.local = local
        self.window = local_window(config) if local else None

    def forward(self, x: torch.Tensor, rotary: dict, attention: BatchAttention, keep_rows=None) -> torch.Tensor:
        """x [T, H] -> [T, H] (or [R, H] for ``keep_rows``), before the residual add."""
        T, H = x.shape
        q, k, v = self.Wqkv(x).view(T, 3, self.num_heads, self.head_dim).unbind(1)  # [T, heads, D] each
        cos, sin = rotary["sliding_attention" if self.local else "full_attention"]
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        out = attention(q, k, v, self.head_dim**-0.5, window=self.window)  # [T, heads, D]
        if keep_rows is not None:
            out = out.index_select(0, keep_rows)
        return self.Wo(out.reshape(out.shape[0], H))


class ModernBertMLP(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.Wi = Linear(config.hidden_size, 2 * config.intermediate_size, bias=config.mlp_bias)
        self.Wo = Linear(config.intermediate_size, config.hidden_size, bias=config.mlp_bias)
        self.act = EAGER_ACTIVATIONS[hf_activation(config.hidden_activation, "hidden_activation")]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inp, gate = self.Wi(x).chunk(2, dim=-1)  # [T, I] each
        return self.Wo(self.act(inp) * gate)


class ModernBertLayer(nn.Module):
    def __init__(self, config, index: int, local: bool) -> None:
        super().__init__()
        self.attn_norm = _layer_norm(config) if index > 0 else None  # the embeddings' norm precedes layer 0
        self.attn = ModernBertAttention(config, local)
        self.mlp_norm = _layer_norm(config)
        self.mlp = ModernBertMLP(config)

    def forward(self, x: torch.Tensor, rotary: dict, attention: BatchAttention, keep_rows=None) -> torch.Tensor:
        normed = x if self.attn_norm is None else self.attn_norm(x)
        out = self.attn(normed, rotary, attention, keep_rows)
        if keep_rows is not None:  # every row was a key; only these go on
            x = x.index_select(0, keep_rows)
        x = x + out
        return x + self.mlp(self.mlp_norm(x))


class ModernBertBackbone(nn.Module):
    """``embeddings.{tok_embeddings,norm}``, ``layers.N.*``, ``final_norm``."""

    def __init__(self, config) -> None:
        super().__init__()
        self.config = config
        self.embeddings = nn.Module()
        self.embeddings.tok_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.embeddings.norm = _layer_norm(config)
        self.layers = self.make_layers(config)
        self.final_norm = _layer_norm(config)
        head_dim = config.hidden_size // config.num_attention_heads
        self.rotary = {t: RotaryEmbedding(config, head_dim, t) for t in ("full_attention", "sliding_attention")}

    @staticmethod
    def make_layers(config) -> nn.ModuleList:
        return nn.ModuleList(ModernBertLayer(config, i, t == "sliding_attention") for i, t in enumerate(layer_types(config)))

    def forward(self, batch, attention: BatchAttention, keep_rows: Optional[torch.Tensor]) -> torch.Tensor:
        """The packed batch -> final hidden states at ``keep_rows`` [R, H] ([T, H] for None)."""
        if max(batch.seq_lens, default=0) > self.config.max_position_embeddings:
            raise ValueError(f"a sequence of {max(batch.seq_lens)} tokens exceeds the "
                             f"{self.config.max_position_embeddings} positions of the model")
        x = self.embeddings.norm(self.embeddings.tok_embeddings(batch.input_ids))  # [T, H]
        rotary = {t: emb.cos_sin(batch.positions, x.dtype) for t, emb in self.rotary.items()}
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x, rotary, attention, keep_rows if i == last else None)
        return self.final_norm(x)


class ModernBertModel(BackboneEmbedder):
    """The bare encoder as an embedding model; its tensors are named with ``model.`` or none."""

    weight_prefix_aliases = {"": "model."}

    def make_backbone(self, config) -> nn.Module:
        return ModernBertBackbone(config)


class ModernBertForSequenceClassification(PoolingModel):
    """``model.*`` + ``head`` (dense -> activation -> norm) + ``classifier``, on the first token or
    on the mean of the sequence (``classifier_pooling``)."""

    kind = ModelKind.ENCODER_CLASSIFIER

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__()
        self.config = config
        self.model = ModernBertBackbone(config)
        self.head = nn.Module()
        self.head.dense = nn.Linear(config.hidden_size, config.hidden_size, bias=config.classifier_bias)
        self.head.norm = _layer_norm(config)
        self.head_act = EAGER_ACTIVATIONS[hf_activation(config.classifier_activation, "classifier_activation")]
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        method = {"cls": PoolingMethod.CLS, "mean": PoolingMethod.MEAN}.get(config.classifier_pooling)
        if method is None:
            raise ValueError(f"classifier_pooling {config.classifier_pooling!r} is not supported (cls or mean)")
        self.pooler = Pooler(method, ClassifierHead(self.classify, config))

    def classify(self, pooled: torch.Tensor) -> torch.Tensor:
        """[B, H] (the first token, or the mean in float32) -> logits [B, num_labels]."""
        pooled = pooled.to(self.classifier.weight.dtype)
        return self.classifier(self.head.norm(self.head_act(self.head.dense(pooled))))

    def hidden_states(self, batch, attention, rows):
        return self.model(batch, attention, rows)


class ModernBertForTokenClassification(ModernBertForSequenceClassification):
    """``model.*`` + ``head`` (dense -> activation -> norm) + ``classifier`` on every token."""

    kind = ModelKind.ENCODER_TOKEN_CLASSIFIER
