"""SqueezeBERT (``SqueezeBertModel``, ``SqueezeBertForSequenceClassification``: squeezebert/squeezebert-uncased,
-mnli, -mnli-headless). BERT's post-norm layers whose projections are grouped 1x1 convolutions: q, k, v
(``attention.{query,key,value}``), the attention output (``post_attention.conv1d``, LayerNorm after the residual),
the intermediate (``intermediate.conv1d`` and the activation) and the output (``output.conv1d``, LayerNorm after
the residual), each split into its config's number of groups (``q_groups`` ...). A grouped 1x1 convolution is a
block-diagonal product: ``GroupedLinear`` computes it per group on packed rows. Embeddings and the tanh pooler are
BERT's (under ``transformer.``); the classifier reads the pooler.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.attention import BatchAttention
from multiscore.layers.linear import EAGER_ACTIVATIONS, hf_activation
from multiscore.layers.pooler import ClassifierHead, Pooler, PoolingMethod
from multiscore.models.base import BackboneEmbedder, PoolingModel
from multiscore.models.bert import BertEmbeddings, BertPooler


class GroupedLinear(nn.Module):
    """A 1x1 ``Conv1d`` with ``groups`` (its weight [out, in / groups, 1] and bias [out], as stored) on rows:
    x [T, in] -> [T, out], each group of outputs from its own group of inputs."""

    def __init__(self, cin: int, cout: int, groups: int) -> None:
        super().__init__()
        if cin % groups or cout % groups:
            raise ValueError(f"{cin} -> {cout} channels do not split into {groups} groups")
        self.groups = groups
        self.weight = nn.Parameter(torch.empty(cout, cin // groups, 1))
        self.bias = nn.Parameter(torch.empty(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.groups
        w = self.weight[..., 0].view(g, -1, self.weight.shape[1])  # [g, out / g, in / g]
        out = torch.einsum("tgi,goi->tgo", x.view(x.shape[0], g, -1), w)  # [T, g, out / g]
        return out.reshape(x.shape[0], -1) + self.bias


class SqueezeBertLayer(nn.Module):
    """``encoder.layers.N``."""

    def __init__(self, config) -> None:
        super().__init__()
        h, inner, eps = config.hidden_size, config.intermediate_size, config.layer_norm_eps
        self.heads, self.head_dim = config.num_attention_heads, h // config.num_attention_heads
        self.attention = nn.Module()
        self.attention.query = GroupedLinear(h, h, config.q_groups)
        self.attention.key = GroupedLinear(h, h, config.k_groups)
        self.attention.value = GroupedLinear(h, h, config.v_groups)
        self.post_attention, self.intermediate, self.output = nn.Module(), nn.Module(), nn.Module()
        self.post_attention.conv1d = GroupedLinear(h, h, config.post_attention_groups)
        self.post_attention.layernorm = nn.LayerNorm(h, eps=eps)
        self.intermediate.conv1d = GroupedLinear(h, inner, config.intermediate_groups)
        self.act = EAGER_ACTIVATIONS[hf_activation(config.hidden_act, "hidden_act")]
        self.output.conv1d = GroupedLinear(inner, h, config.output_groups)
        self.output.layernorm = nn.LayerNorm(h, eps=eps)

    def forward(self, x: torch.Tensor, attention: BatchAttention) -> torch.Tensor:
        """x [T, H] -> [T, H]."""
        T = x.shape[0]
        q, k, v = (proj(x).view(T, self.heads, self.head_dim)
                   for proj in (self.attention.query, self.attention.key, self.attention.value))
        context = attention(q, k, v, self.head_dim**-0.5).reshape(T, -1)
        x = self.post_attention.layernorm(self.post_attention.conv1d(context) + x)
        return self.output.layernorm(self.output.conv1d(self.act(self.intermediate.conv1d(x))) + x)


class SqueezeBertBackbone(nn.Module):
    """``embeddings.*``, ``encoder.layers.N.*`` and, for the classifier, ``pooler.dense``."""

    def __init__(self, config, add_pooler: bool = False) -> None:
        super().__init__()
        if getattr(config, "embedding_size", config.hidden_size) != config.hidden_size:
            raise ValueError("SqueezeBERT with embedding_size != hidden_size is not supported (transformers refuses it too)")
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = nn.Module()
        self.encoder.layers = nn.ModuleList(SqueezeBertLayer(config) for _ in range(config.num_hidden_layers))
        self.pooler = BertPooler(config) if add_pooler else None

    def forward(self, batch, attention: BatchAttention, keep_rows: Optional[torch.Tensor]) -> torch.Tensor:
        """The packed batch -> final hidden states at ``keep_rows`` [R, H] ([T, H] for None)."""
        if max(batch.seq_lens, default=0) > self.config.max_position_embeddings:
            raise ValueError(f"a sequence of {max(batch.seq_lens)} tokens exceeds the "
                             f"{self.config.max_position_embeddings} positions of the model")
        x = self.embeddings(batch.input_ids, batch.token_type_ids, batch.positions)
        for layer in self.encoder.layers:
            x = layer(x, attention)
        return x if keep_rows is None else x.index_select(0, keep_rows)


class SqueezeBertModel(BackboneEmbedder):
    """The bare encoder as an embedding model ([CLS], normalised, unless sentence-transformers files say otherwise)."""

    weight_prefix_aliases = {"transformer.": "model.", "": "model."}

    def make_backbone(self, config) -> nn.Module:
        return SqueezeBertBackbone(config)


class SqueezeBertForSequenceClassification(PoolingModel):
    """``transformer.*`` (with its pooler) + ``classifier``: logits = classifier(pooler([CLS]))."""

    kind = ModelKind.ENCODER_CLASSIFIER

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__()
        self.config = config
        self.transformer = SqueezeBertBackbone(config, add_pooler=True)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.pooler = Pooler(PoolingMethod.CLS, ClassifierHead(self.classify, config))

    def classify(self, first_token_hidden: torch.Tensor) -> torch.Tensor:
        """[B, H] -> logits [B, num_labels]."""
        return self.classifier(self.transformer.pooler(first_token_hidden))

    def hidden_states(self, batch, attention, rows):
        return self.transformer(batch, attention, rows)
