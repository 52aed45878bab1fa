"""ConvBERT encoders (``ConvBertModel``, ``ConvBertForSequenceClassification``, ``ConvBertForTokenClassification``:
YituTech/conv-bert-*, dbmdz/convbert-base-turkish-* and their fine-tuned classifiers).

ELECTRA's embeddings (``embedding_size``, ``embeddings_project``) and BERT's post-norm layers, whose self-attention
is mixed: num_attention_heads / head_ratio heads of width (hidden / heads) / 2 attend as usual, and as many heads of
span-based dynamic convolution sit beside them (their outputs after the attention heads'). The convolution
of token t: a kernel of ``conv_kernel_size`` weights per head, softmax(conv_kernel_layer(query(x) ·
separable_conv(x))) (a depthwise convolution over the sequence, then a pointwise one, plus a bias), applied to
``conv_out_layer(x)`` at positions t - k//2 .. t + k//2. Both convolutions see zeros past a sequence's ends, as
transformers sees them on one unpadded input; here they read each token's neighbours within its own sequence of the
packed batch. With ``num_groups`` > 1 the feed-forward products are grouped (``weight`` [groups, in / groups,
out / groups]). The classifier reads the first token through ``dense``, the config's activation and ``out_proj``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.attention import BatchAttention
from multiscore.layers.linear import EAGER_ACTIVATIONS, FusedLinear, Linear, hf_activation
from multiscore.layers.pooler import ClassifierHead, Pooler, PoolingMethod
from multiscore.models.base import PoolingModel, TokenClassifier
from multiscore.models.bert import BERT_PACKED_MODULES, BertModel
from multiscore.models.electra import ElectraBackbone
from multiscore.models.xlm_roberta import XLMRobertaClassificationHead


@dataclass
class SpanAttention:
    """The batch's attention and each token's convolution span: ``index`` [T, k] the rows at offsets
    -k//2 .. k//2 (clamped), ``inside`` [T, k, 1] 1 where that row is in the token's own sequence, else 0."""

    attention: BatchAttention
    index: torch.Tensor
    inside: torch.Tensor

    def __call__(self, *args, **kwargs) -> torch.Tensor:
        return self.attention(*args, **kwargs)

    @classmethod
    def of(cls, attention: BatchAttention, layouts, kernel: int, device) -> "SpanAttention":
        starts = torch.tensor([layout.start for layout in layouts])
        lens = torch.tensor([layout.length for layout in layouts])
        first = torch.repeat_interleave(starts, lens)  # [T] each row's sequence start
        end = torch.repeat_interleave(starts + lens, lens)
        rows = torch.arange(int(lens.sum()))
        index = rows[:, None] + torch.arange(kernel) - kernel // 2  # [T, k]
        inside = (index >= first[:, None]) & (index < end[:, None])
        index = torch.where(inside, index, rows[:, None])
        return cls(attention, index.to(device), inside[:, :, None].to(device))

    def spans(self, x: torch.Tensor) -> torch.Tensor:
        """[T, C] -> [T, k, C]: each token's neighbours, zero outside its sequence."""
        return x[self.index] * self.inside.to(x.dtype)


class SeparableConv(nn.Module):
    """``key_conv_attn_layer``: a depthwise convolution over the sequence, a pointwise one and a bias."""

    def __init__(self, hidden: int, out: int, kernel: int) -> None:
        super().__init__()
        self.depthwise, self.pointwise = nn.Module(), nn.Module()
        self.depthwise.weight = nn.Parameter(torch.empty(hidden, 1, kernel))
        self.pointwise.weight = nn.Parameter(torch.empty(out, hidden, 1))
        self.bias = nn.Parameter(torch.empty(out, 1))

    def forward(self, x: torch.Tensor, spans: SpanAttention) -> torch.Tensor:
        """[T, H] -> [T, out]."""
        mixed = torch.einsum("tkc,ck->tc", spans.spans(x), self.depthwise.weight[:, 0])  # [T, H]
        return mixed @ self.pointwise.weight[:, :, 0].t() + self.bias[:, 0]


class ConvBertSelfAttention(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        H = config.hidden_size
        self.num_heads = max(config.num_attention_heads // config.head_ratio, 1)
        self.head_dim = (H // self.num_heads) // 2
        A, self.kernel = self.num_heads * self.head_dim, config.conv_kernel_size
        self.qkv = FusedLinear(H, {"q": A, "k": A, "v": A}, bias=True)
        self.key_conv_attn_layer = SeparableConv(H, A, self.kernel)
        self.conv_kernel_layer = Linear(A, self.num_heads * self.kernel)
        self.conv_out_layer = Linear(H, A)

    def forward(self, x: torch.Tensor, spans: SpanAttention, rows=None) -> torch.Tensor:
        """[T, H] -> [T, H] ([R, H] at ``rows``): the attention heads' outputs, then the convolution heads'."""
        T, n, D = x.shape[0], self.num_heads, self.head_dim
        q, k, v = self.qkv(x).split(n * D, dim=-1)  # [T, A] each
        weights = self.conv_kernel_layer(self.key_conv_attn_layer(x, spans) * q).view(T, n, self.kernel).softmax(-1)
        conv = torch.einsum("tkhd,thk->thd", spans.spans(self.conv_out_layer(x)).view(T, self.kernel, n, D), weights)
        attended = spans(q.view(T, n, D), k.view(T, n, D), v.view(T, n, D), D**-0.5, rows=rows)  # [R, n, D]
        if rows is not None:
            conv = conv.index_select(0, rows)
        return torch.cat([attended, conv], dim=1).reshape(attended.shape[0], -1)  # [R, 2n, D]: attention heads first


class GroupedLinear(nn.Module):
    """transformers' GroupedLinearLayer: ``weight`` [groups, in / groups, out / groups], each group of input columns
    to its group of outputs, and ``bias`` [out]."""

    def __init__(self, n_in: int, n_out: int, groups: int) -> None:
        super().__init__()
        self.groups = groups
        self.weight = nn.Parameter(torch.empty(groups, n_in // groups, n_out // groups))
        self.bias = nn.Parameter(torch.empty(n_out))

    def forward(self, x: torch.Tensor, activation: tuple[str, str] = ("none", "")) -> torch.Tensor:
        """[T, in] -> [T, out], then ``activation``."""
        grouped = torch.bmm(x.view(x.shape[0], self.groups, -1).transpose(0, 1), self.weight)  # [groups, T, out / g]
        return EAGER_ACTIVATIONS[activation](grouped.transpose(0, 1).reshape(x.shape[0], -1) + self.bias)


class ConvBertBackbone(ElectraBackbone):
    """``convbert.*``: ELECTRA's embeddings, BERT's layers with the mixed self-attention (and grouped feed-forward)."""

    def __init__(self, config, add_pooler: bool = False) -> None:
        super().__init__(config)
        for layer in self.encoder.layer:
            layer.attention.self = ConvBertSelfAttention(config)
            if config.num_groups > 1:
                layer.intermediate.dense = GroupedLinear(config.hidden_size, config.intermediate_size, config.num_groups)
                layer.output.dense = GroupedLinear(config.intermediate_size, config.hidden_size, config.num_groups)

    def forward(self, batch, attention: BatchAttention, keep_rows: Optional[torch.Tensor]) -> torch.Tensor:
        spans = SpanAttention.of(attention, batch.layouts, self.config.conv_kernel_size, batch.input_ids.device)
        return super().forward(batch, spans, keep_rows)


class ConvBertModel(BertModel):
    """The bare encoder as an embedding model (BERT's defaults: [CLS], normalised)."""

    weight_prefix_aliases = {"convbert.": "model.", "": "model."}
    backbone = ConvBertBackbone


class ConvBertForSequenceClassification(PoolingModel):
    """``convbert.*`` + ``classifier.{dense, out_proj}`` (the config's activation between them) on the first token."""

    kind = ModelKind.ENCODER_CLASSIFIER
    packed_modules_mapping = BERT_PACKED_MODULES

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__()
        self.config = config
        self.convbert = ConvBertBackbone(config)
        activation = EAGER_ACTIVATIONS[hf_activation(config.hidden_act, "hidden_act")]
        self.classifier = XLMRobertaClassificationHead(config, activation=activation)
        self.pooler = Pooler(PoolingMethod.CLS, ClassifierHead(self.classifier, config))

    def hidden_states(self, batch, attention, rows):
        return self.convbert(batch, attention, rows)


class ConvBertForTokenClassification(TokenClassifier):
    packed_modules_mapping = BERT_PACKED_MODULES
    backbone_name = "convbert"

    @staticmethod
    def make_backbone(config) -> nn.Module:
        return ConvBertBackbone(config)
