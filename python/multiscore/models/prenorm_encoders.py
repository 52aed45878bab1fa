"""Pre-norm BERT encoders: XLM-RoBERTa-XL / -XXL (``XLMRobertaXL*``), RoBERTa-PreLayerNorm
(``RobertaPreLayerNorm*``) and Megatron-BERT (``MegatronBert*``). BERT's layer with each LayerNorm moved in
front of its sublayer (x + attention(norm(x)), then that + MLP(norm(that))) and one more after the last
layer; each family names and places those norms its own way (``PreNormLayout``), so the modules are built
under the checkpoint's names. Attention is bidirectional through the same backend as BERT's.

Heads: the bare encoder (an embedding model), RoBERTa's classifier on <s> (XL, PreLayerNorm) or BERT's
pooler and classifier (Megatron), and the token classifiers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from multiscore.layers.attention import BatchAttention
from multiscore.layers.linear import Linear
from multiscore.models.bert import (
    BertBackbone,
    BertEmbeddings,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertIntermediate,
    BertModel,
    BertPooler,
    BertSelfAttention,
)
from multiscore.models.xlm_roberta import (
    XLMRobertaBackbone,
    XLMRobertaForSequenceClassification,
    XLMRobertaForTokenClassification,
    XLMRobertaModel,
)


@dataclass(frozen=True)
class PreNormLayout:
    """Where a family keeps its norms (module paths under a layer, or under the backbone for ``final``)."""

    attention_norm: str  # under ``attention``
    mlp_norm: str  # under the layer
    final: str  # under the backbone
    embeddings_norm: bool


XL = PreNormLayout("self_attn_layer_norm", "LayerNorm", "encoder.LayerNorm", embeddings_norm=False)
PRE_LAYER_NORM = PreNormLayout("LayerNorm", "intermediate.LayerNorm", "LayerNorm", embeddings_norm=True)
MEGATRON = PreNormLayout("ln", "ln", "encoder.ln", embeddings_norm=False)


def _place(root: nn.Module, path: str, module: nn.Module) -> None:
    owner, _, name = path.rpartition(".")
    setattr(root.get_submodule(owner) if owner else root, name, module)


class PreNormLayer(nn.Module):
    """``attention.self`` (q/k/v), ``attention.output.dense``, ``intermediate.dense``, ``output.dense``, and
    the two norms where the layout puts them."""

    def __init__(self, config, layout: PreNormLayout) -> None:
        super().__init__()
        H, eps = config.hidden_size, config.layer_norm_eps
        self.attention = nn.Module()
        self.attention.self = BertSelfAttention(config)
        self.attention.output = nn.Module()
        self.attention.output.dense = Linear(H, H)
        self.intermediate = BertIntermediate(config)
        self.output = nn.Module()
        self.output.dense = Linear(config.intermediate_size, H)
        self.attention_norm, self.mlp_norm = f"attention.{layout.attention_norm}", layout.mlp_norm
        _place(self, self.attention_norm, nn.LayerNorm(H, eps=eps))
        _place(self, self.mlp_norm, nn.LayerNorm(H, eps=eps))

    def forward(self, x: torch.Tensor, attention: BatchAttention, keep_rows=None) -> torch.Tensor:
        """[T, H] -> [T, H], or [R, H] for only ``keep_rows`` (every row still serves as a key)."""
        attended = self.attention.self(self.get_submodule(self.attention_norm)(x), attention, keep_rows)
        if keep_rows is not None:
            x = x.index_select(0, keep_rows)
        x = x + self.attention.output.dense(attended)
        return x + self.output.dense(self.intermediate(self.get_submodule(self.mlp_norm)(x)))


class PreNormBackbone(nn.Module):
    """``embeddings`` (BERT's, with or without their LayerNorm), ``encoder.layer.N`` and the final norm."""

    layout: PreNormLayout
    first_position = staticmethod(BertBackbone.first_position)  # RoBERTa's families override it

    def __init__(self, config, add_pooler: bool) -> None:
        super().__init__()
        self.config = config
        self.position_offset = self.first_position(config)
        self.embeddings = BertEmbeddings(config)
        if not self.layout.embeddings_norm:
            self.embeddings.LayerNorm = nn.Identity()
        self.encoder = PreNormEncoder(config, self.layout)
        _place(self, self.layout.final, nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps))
        self.pooler = BertPooler(config) if add_pooler else None

    embed = BertBackbone.embed

    def forward(self, batch, attention: BatchAttention, keep_rows) -> torch.Tensor:
        """The packed batch -> the final norm of the last layer's states at ``keep_rows`` [R, H] ([T, H] for None)."""
        return self.get_submodule(self.layout.final)(BertBackbone.forward(self, batch, attention, keep_rows))


class PreNormEncoder(nn.Module):
    """``encoder.layer.N`` (and, where the family keeps it there, the final norm: the backbone applies it)."""

    def __init__(self, config, layout: PreNormLayout) -> None:
        super().__init__()
        self.layer = nn.ModuleList(PreNormLayer(config, layout) for _ in range(config.num_hidden_layers))

    def forward(self, x: torch.Tensor, attention: BatchAttention, keep_rows=None) -> torch.Tensor:
        """[T, H] -> [R, H]: the last layer runs its output projections and MLP on ``keep_rows`` only."""
        last = len(self.layer) - 1
        for i, layer in enumerate(self.layer):
            x = layer(x, attention, keep_rows if i == last else None)
        return x


class XLBackbone(PreNormBackbone):
    layout = XL
    first_position = staticmethod(XLMRobertaBackbone.first_position)


class PreLayerNormBackbone(PreNormBackbone):
    layout = PRE_LAYER_NORM
    first_position = staticmethod(XLMRobertaBackbone.first_position)


class MegatronBackbone(PreNormBackbone):
    layout = MEGATRON


class XLMRobertaXLModel(XLMRobertaModel):
    backbone = XLBackbone


class XLMRobertaXLForSequenceClassification(XLMRobertaForSequenceClassification):
    make_backbone = staticmethod(lambda config: XLBackbone(config, add_pooler=False))


class XLMRobertaXLForTokenClassification(XLMRobertaForTokenClassification):
    make_backbone = staticmethod(lambda config: XLBackbone(config, add_pooler=False))


_PRE_LN_PREFIX = {"roberta_prelayernorm.": "roberta."}  # its backbone's tensors, where RoBERTa's are roberta.*


class RobertaPreLayerNormModel(XLMRobertaModel):
    backbone = PreLayerNormBackbone
    weight_prefix_aliases = {"roberta_prelayernorm.": "model.", **XLMRobertaModel.weight_prefix_aliases}


class RobertaPreLayerNormForSequenceClassification(XLMRobertaForSequenceClassification):
    weight_prefix_aliases = _PRE_LN_PREFIX
    make_backbone = staticmethod(lambda config: PreLayerNormBackbone(config, add_pooler=False))


class RobertaPreLayerNormForTokenClassification(XLMRobertaForTokenClassification):
    weight_prefix_aliases = _PRE_LN_PREFIX
    make_backbone = staticmethod(lambda config: PreLayerNormBackbone(config, add_pooler=False))


class MegatronBertModel(BertModel):
    backbone = MegatronBackbone


class MegatronBertForSequenceClassification(BertForSequenceClassification):
    make_backbone = staticmethod(lambda config: MegatronBackbone(config, add_pooler=True))


class MegatronBertForTokenClassification(BertForTokenClassification):
    make_backbone = staticmethod(lambda config: MegatronBackbone(config, add_pooler=False))
