"""X-MOD encoders (``XmodModel``, ``XmodForSequenceClassification``, ``XmodForTokenClassification``: facebook/xmod-base
/ -large-prenorm's post-norm kin and their fine-tuned classifiers): XLM-R's layers with a language adapter in every
layer's output, for the language the config names (``default_language``, transformers' ``set_default_language``; a
server serves one language).

A layer's output: h = dense(intermediate) + residual, then the adapter of the language (dense1, the config's
activation, dense2) added to h (or to its LayerNorm: ``ln_before_adapter``), read through ``output.LayerNorm``
first where ``adapter_reuse_layer_norm`` says (or its own ``adapter_layer_norm``), then ``output.LayerNorm``.
Only the served language's adapter is read. ``pre_norm`` (X-MOD's pre-norm variants) is refused.
"""

from __future__ import annotations

import torch
from torch import nn

from multiscore.layers.linear import Linear, hf_activation
from multiscore.models.bert import DenseResidualNorm
from multiscore.models.xlm_roberta import (
    XLMRobertaBackbone,
    XLMRobertaForSequenceClassification,
    XLMRobertaForTokenClassification,
    XLMRobertaModel,
)


def served_language(config) -> str:
    """The config's ``default_language``, which must be one of its ``languages`` (ValueError otherwise)."""
    if getattr(config, "pre_norm", False):
        raise ValueError("X-MOD with pre_norm is not supported: its post-norm layers are")
    language = getattr(config, "default_language", None)
    if language is None:
        raise ValueError("X-MOD serves one input language, and the config names none: set default_language "
                         "(--hf-overrides '{\"default_language\": \"en_XX\"}'), one of its languages")
    if language not in config.languages:
        raise ValueError(f"X-MOD default_language {language!r} is not one of the model's languages {list(config.languages)}")
    return str(language)


class XmodAdapter(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        bottleneck = config.hidden_size // config.adapter_reduction_factor
        self.dense1 = Linear(config.hidden_size, bottleneck)
        self.dense2 = Linear(bottleneck, config.hidden_size)
        self.act = hf_activation(config.hidden_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense2(self.dense1(x, self.act))


class XmodOutput(DenseResidualNorm):
    """``output``: dense(x) + residual, the language's adapter on it, then ``LayerNorm``."""

    def __init__(self, config, language: str) -> None:
        super().__init__(config.intermediate_size, config)
        self.adapter_layer_norm = (nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
                                   if config.adapter_layer_norm else None)
        self.reuse_norm = bool(config.adapter_reuse_layer_norm)
        self.ln_before_adapter = bool(config.ln_before_adapter)
        self.adapter_modules = nn.ModuleDict({language: XmodAdapter(config)})  # the served language's alone

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        h = self.dense(x) + residual
        normed = h
        if self.adapter_layer_norm is not None:
            normed = self.adapter_layer_norm(h)
        elif self.reuse_norm:
            normed = self.LayerNorm(h)
        adapter = next(iter(self.adapter_modules.values()))
        return self.LayerNorm(adapter(normed) + (normed if self.ln_before_adapter else h))


class XmodBackbone(XLMRobertaBackbone):
    def __init__(self, config, add_pooler: bool = False) -> None:
        super().__init__(config, add_pooler)
        language = served_language(config)
        for layer in self.encoder.layer:
            layer.output = XmodOutput(config, language)


class XmodModel(XLMRobertaModel):
    backbone = XmodBackbone


class XmodForSequenceClassification(XLMRobertaForSequenceClassification):
    @staticmethod
    def make_backbone(config) -> nn.Module:
        return XmodBackbone(config)


class XmodForTokenClassification(XLMRobertaForTokenClassification):
    @staticmethod
    def make_backbone(config) -> nn.Module:
        return XmodBackbone(config)
