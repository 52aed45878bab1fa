"""Decoders whose blocks norm with LayerNorms (not Llama's RMSNorm), on Llama's attention (DecoderAttention)
and cohere.py's ``ParallelBody``.

- StableLM (stabilityai/stablelm-2-1_6b, stablelm-3b-4e1t, ``stablelm``): q/k/v biased by ``use_qkv_bias``,
  rotary on the first ``partial_rotary_factor`` of each head (a quarter), a gated SiLU MLP, biased
  LayerNorms before the attention and the MLP in turn, or with ``use_parallel_residual`` one LayerNorm
  feeding both (``ParallelLayer``). ``qk_layernorm`` (per-head LayerNorms, stablelm-2-12b) is refused.
- StarCoder2 (bigcode/starcoder2-3b/7b/15b, ``starcoder2``): every projection biased by ``use_bias``, the
  config's sliding window, a plain MLP (``c_fc``, GELU-tanh, ``c_proj``: Phi's ``PhiMlp``), biased LayerNorms.
- Nemotron (nvidia/Minitron-4B/8B, Nemotron-Mini-4B, ``nemotron``): LayerNorms that scale by 1 + w
  (``LayerNorm1P``), rotary on half of each head, a squared-ReLU MLP (``up_proj``, ``down_proj``).
- OLMo (allenai/OLMo-1B-hf, OLMo-7B-0424-hf, ``olmo``): Llama's attention and MLP with LayerNorms that have
  no weight or bias (eps 1e-5, in float32); q, k and v clamped to ±``clip_qkv`` where set (OLMo-7B-0424's 8)."""

from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.models.cohere import ParallelBody, ParallelLayer
from multiscore.models.decoder import (
    BlockOptions,
    DecoderAttention,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
    ForwardContext,
    GatedMLP,
    mlp_activation,
)
from multiscore.models.nemotron_h import SquaredReluMLP
from multiscore.models.phi import PhiMlp


class LayerNorm1P(nn.LayerNorm):
    """Nemotron's LayerNorm: scales by 1 + w (its weights stored around 0)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight + 1.0, self.bias, self.eps)


class PlainLayerNorm(nn.Module):
    """OLMo's: a LayerNorm with no weight or bias, computed in float32 (eps 1e-5)."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.normalized_shape = (hidden_size,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x.float(), self.normalized_shape, None, None, eps=1e-5).to(x.dtype)


class SequentialLayer(nn.Module):
    """x + attn(ln1(x)), then that + mlp(ln2(that)) (``input_layernorm``, ``post_attention_layernorm``:
    two of ``make_norm()``)."""

    def __init__(self, make_norm: Callable[[], nn.Module], attention: nn.Module, mlp: nn.Module) -> None:
        super().__init__()
        self.input_layernorm, self.post_attention_layernorm = make_norm(), make_norm()
        self.self_attn, self.mlp = attention, mlp

    def forward(self, x: torch.Tensor, ctx: ForwardContext) -> torch.Tensor:
        """x [T, H] -> [T, H]."""
        x = x + self.self_attn(self.input_layernorm(x), ctx)
        return x + self.mlp(self.post_attention_layernorm(x), ctx.ops)


def stablelm_options(config) -> BlockOptions:
    if getattr(config, "qk_layernorm", False):
        raise ValueError("qk_layernorm (a LayerNorm per head of q and k, stablelm-2-12b's) is not supported")
    return BlockOptions(qkv_bias=bool(getattr(config, "use_qkv_bias", False)), mlp_act=mlp_activation(config))


def stablelm_layer(config, window: Optional[int], layer_id: int) -> nn.Module:
    options = stablelm_options(config)
    attention = DecoderAttention(config, options, window, layer_id=layer_id)
    make_norm = lambda: nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)  # noqa: E731
    if getattr(config, "use_parallel_residual", False):
        return ParallelLayer(make_norm(), attention, GatedMLP(config, options))
    return SequentialLayer(make_norm, attention, GatedMLP(config, options))


class _StableLm:
    options_for = staticmethod(stablelm_options)

    def make_body(self, config) -> nn.Module:
        return ParallelBody(config, stablelm_layer, nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps))


class StableLmForCausalLM(_StableLm, DecoderForCausalLM):
    pass


class StableLmForSequenceClassification(_StableLm, DecoderForSequenceClassification):
    pass


class StableLmForTokenClassification(_StableLm, DecoderForTokenClassification):
    pass


class StableLmModel(_StableLm, DecoderForEmbedding):
    pass


def starcoder2_options(config) -> BlockOptions:
    bias = bool(getattr(config, "use_bias", True))
    return BlockOptions(qkv_bias=bias, o_bias=bias)


def starcoder2_layer(config, window: Optional[int], layer_id: int) -> nn.Module:
    attention = DecoderAttention(config, starcoder2_options(config), window, layer_id=layer_id)
    mlp = PhiMlp(config, bias=bool(getattr(config, "use_bias", True)))
    return SequentialLayer(lambda: nn.LayerNorm(config.hidden_size, eps=config.norm_epsilon), attention, mlp)


class _Starcoder2:
    options_for = staticmethod(starcoder2_options)
    weight_renames = {".mlp.c_fc.": ".mlp.fc1.", ".mlp.c_proj.": ".mlp.fc2."}  # its MLP is Phi's under other names

    def make_body(self, config) -> nn.Module:
        return ParallelBody(config, starcoder2_layer, nn.LayerNorm(config.hidden_size, eps=config.norm_epsilon))


class Starcoder2ForCausalLM(_Starcoder2, DecoderForCausalLM):
    pass


class Starcoder2ForSequenceClassification(_Starcoder2, DecoderForSequenceClassification):
    pass


class Starcoder2ForTokenClassification(_Starcoder2, DecoderForTokenClassification):
    pass


class Starcoder2Model(_Starcoder2, DecoderForEmbedding):
    pass


def nemotron_options(config) -> BlockOptions:
    if config.hidden_act != "relu2":
        raise ValueError(f"hidden_act {config.hidden_act!r}: Nemotron's MLP is served with relu2 (squared ReLU) only")
    bias = bool(getattr(config, "attention_bias", False))
    return BlockOptions(qkv_bias=bias, o_bias=bias)


def nemotron_layer(config, window: Optional[int], layer_id: int) -> nn.Module:
    attention = DecoderAttention(config, nemotron_options(config), window, layer_id=layer_id)
    return SequentialLayer(lambda: LayerNorm1P(config.hidden_size, eps=config.norm_eps), attention, SquaredReluMLP(config))


class _Nemotron:
    options_for = staticmethod(nemotron_options)

    def make_body(self, config) -> nn.Module:
        return ParallelBody(config, nemotron_layer, LayerNorm1P(config.hidden_size, eps=config.norm_eps))


class NemotronForCausalLM(_Nemotron, DecoderForCausalLM):
    pass


class NemotronForSequenceClassification(_Nemotron, DecoderForSequenceClassification):
    pass


class NemotronForTokenClassification(_Nemotron, DecoderForTokenClassification):
    pass


class NemotronModel(_Nemotron, DecoderForEmbedding):
    pass


def jais2_layer(config, window: Optional[int], layer_id: int) -> nn.Module:
    """Jais 2: Llama's attention (biased by ``attention_bias``), Nemotron's squared-ReLU MLP (biased by
    ``mlp_bias``), LayerNorms (``layer_norm_eps``)."""
    attention = DecoderAttention(config, nemotron_options(config), window, layer_id=layer_id)
    return SequentialLayer(lambda: nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps), attention, SquaredReluMLP(config))


class _Jais2:
    options_for = staticmethod(nemotron_options)

    def make_body(self, config) -> nn.Module:
        return ParallelBody(config, jais2_layer, nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps))


class Jais2ForCausalLM(_Jais2, DecoderForCausalLM):
    pass


class Jais2ForSequenceClassification(_Jais2, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class Jais2Model(_Jais2, DecoderForEmbedding):
    pass


def olmo_options(config) -> BlockOptions:
    bias = bool(getattr(config, "attention_bias", False))
    return BlockOptions(qkv_bias=bias, o_bias=bias, mlp_act=mlp_activation(config), clip_qkv=getattr(config, "clip_qkv", None))


def olmo_layer(config, window: Optional[int], layer_id: int) -> nn.Module:
    options = olmo_options(config)
    attention = DecoderAttention(config, options, window, layer_id=layer_id)
    return SequentialLayer(lambda: PlainLayerNorm(config.hidden_size), attention, GatedMLP(config, options))


class _Olmo:
    options_for = staticmethod(olmo_options)

    def make_body(self, config) -> nn.Module:
        return ParallelBody(config, olmo_layer, PlainLayerNorm(config.hidden_size))


class OlmoForCausalLM(_Olmo, DecoderForCausalLM):
    pass


class OlmoForSequenceClassification(_Olmo, DecoderForSequenceClassification):
    pass


class OlmoModel(_Olmo, DecoderForEmbedding):
    pass
