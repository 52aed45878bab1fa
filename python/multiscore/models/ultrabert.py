"""UltraBERT (transformers' ``ultrabert``): ``UltrabertModel``, ``UltrabertForSequenceClassification``,
``UltrabertForTokenClassification``.

An encoder of Llama's blocks (RMSNorm before attention and MLP, grouped kv heads, SwiGLU; biases as
``attention_bias`` / ``mlp_bias`` say), every token seeing every other: ``full_attention`` layers see
all keys, ``sliding_attention`` ones those within ``sliding_window`` positions on either side
(transformers' inclusive radius), each layer type rotating with its own base. The heads read the
final norm's output: ``classifier`` on ``[CLS]`` or on the mean of the tokens (``classifier_pooling``),
or on every token. Checkpoints keep the encoder under ``ultrabert.`` (``model.`` in transformers'
modules).
"""

from __future__ import annotations

from typing import Optional

from torch import nn

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.pooler import ClassifierHead, Pooler, PoolingMethod
from multiscore.models.decoder import BlockOptions, DecoderForEmbedding, DecoderModel, mlp_activation


def ultrabert_options(config) -> BlockOptions:
    attention_bias, mlp_bias = bool(config.attention_bias), bool(config.mlp_bias)
    return BlockOptions(qkv_bias=attention_bias, o_bias=attention_bias, mlp_bias=mlp_bias, mlp_act=mlp_activation(config))


class UltrabertModel(DecoderForEmbedding):
    """The bare encoder: an embedding model, pooled as its sentence-transformers files say ([CLS] without them)."""

    kind = ModelKind.ENCODER_EMBEDDING
    options_for = staticmethod(ultrabert_options)
    # The published layout (what transformers saves too) keeps the encoder under ``ultrabert.``.
    weight_prefix_aliases = {"ultrabert.": "model.", "": "model."}

    def make_body(self, config) -> nn.Module:
        body = DecoderModel(config, ultrabert_options(config))
        for layer in body.layers:  # |i - j| <= sliding_window, as the backend's |i - j| < window
            if layer.self_attn.window is not None:
                layer.self_attn.window += 1
        return body


class UltrabertForSequenceClassification(UltrabertModel):
    kind = ModelKind.ENCODER_CLASSIFIER

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        method = {"cls": PoolingMethod.CLS, "mean": PoolingMethod.MEAN}[getattr(config, "classifier_pooling", "cls")]
        self.pooler = Pooler(method, ClassifierHead(self.classifier, config))


class UltrabertForTokenClassification(UltrabertModel):
    kind = ModelKind.ENCODER_TOKEN_CLASSIFIER

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.pooler = Pooler(PoolingMethod.CLS, ClassifierHead(self.classifier, config))  # token requests: every row
