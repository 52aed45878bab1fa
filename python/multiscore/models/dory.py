"""Dory (NVIDIA-Nemotron-Labs-Dory1.0-*): ``DoryForCausalLM``, ``DoryModel``. A looped nGPT: every hidden state
lives on the unit sphere.

- L2 norms (x · rsqrt(Σx² + 1e-6), in float32) everywhere; no norm weights.
- Attention: q and k L2-normed per head, rotated (a base per layer type; sliding layers by ``layer_types``), q
  times (sqk·√D/σ₀)² per channel, scale D^-½; the output gated by σ(gate_proj(x)·(s_gate·H^¼/σ₀)²) and L2-normed
  over all heads before ``o_proj`` (σ₀ = ``initializer_range``).
- MLP: down(L2(silu(gate·suv_gate·√H) · up·suv_up·√H)).
- Each block moves the state towards its normed output, h + |λ·α₀/σ₀|·(out − h) (α₀ = ``ngpt_alpha_init``).
- The body: ``n_input_layers``, then ``n_recurrent_loops`` passes of the ``n_recurrent_layers`` (each loop from
  L2(h) + L2(h after the input layers)), then ``n_output_layers``; a final L2. Logits times ``logit_scale``/σ₀ per token.

The hub's checkpoints store each layer as two blocks (``backbone.layers.{2i}.mixer`` attention, ``{2i+1}.mixer``
MLP); both layouts load. The loop runs over depth, not positions: MIS is exact. The prefix cache is not served:
the looped layers' keys differ per loop.
"""

from __future__ import annotations

import re
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.configs.attention_geometry import layer_windows
from multiscore.layers.attention import BatchAttention
from multiscore.layers.fused_ops import EAGER
from multiscore.layers.linear import FusedLinear, Linear
from multiscore.layers.pooler import LabelProbabilityHead, Pooler, PoolingMethod
from multiscore.layers.rotary import RotaryEmbedding
from multiscore.models.decoder import DecoderForCausalLM, DecoderForEmbedding, ForwardContext, with_embed_overrides

_L2_EPS = 1e-6
_LAYER_PAIR = re.compile(r"layers\.(\d+)\.(mixer|attn_alpha|mlp_alpha)(?=\.|$)")


def l2_norm(x: torch.Tensor) -> torch.Tensor:
    """x [..., n] onto the unit sphere (in float32, as transformers)."""
    x32 = x.float()
    return (x32 * torch.rsqrt(x32.square().sum(-1, keepdim=True) + _L2_EPS)).to(x.dtype)


class DoryAttention(nn.Module):
    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        self.layer_id, self.window = layer_id, layer_windows(config)[layer_id]
        self.sliding = config.layer_types[layer_id] == "sliding_attention"
        self.num_heads, self.num_kv_heads, self.head_dim = config.num_attention_heads, config.num_key_value_heads, config.head_dim
        self.q_size, self.kv_size = self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim
        bias = bool(config.attention_bias)
        self.qkv_proj = FusedLinear(config.hidden_size, {"q": self.q_size, "k": self.kv_size, "v": self.kv_size}, bias=bias)
        self.o_proj = Linear(self.q_size, config.hidden_size, bias=bias)
        self.gate_proj = Linear(config.hidden_size, self.q_size, bias=False)
        self.sqk = nn.Parameter(torch.empty(self.q_size))
        self.s_gate = nn.Parameter(torch.empty(self.q_size))
        self.sqk_scale = self.head_dim**0.5 / config.initializer_range
        self.s_gate_scale = config.hidden_size**0.25 / config.initializer_range

    def forward(self, hidden: torch.Tensor, ctx: ForwardContext) -> torch.Tensor:
        """hidden [T, H] -> [T, H]."""
        T = hidden.shape[0]
        q, k, v = self.qkv_proj(hidden).split([self.q_size, self.kv_size, self.kv_size], dim=-1)
        cos, sin = ctx.local_cos_sin if self.sliding else (ctx.cos, ctx.sin)
        q = ctx.ops.norm_rotary(l2_norm(q.view(T, self.num_heads, self.head_dim)), None, 0.0, cos, sin)
        k = ctx.ops.norm_rotary(l2_norm(k.view(T, self.num_kv_heads, self.head_dim)), None, 0.0, cos, sin)
        q = q * (self.sqk * self.sqk_scale).view(self.num_heads, self.head_dim).square()
        out = ctx.attention(q, k, v.view(T, self.num_kv_heads, self.head_dim), self.head_dim**-0.5, None, self.window,
                            layer=self.layer_id).reshape(T, self.q_size)
        out = out * torch.sigmoid(self.gate_proj(hidden) * (self.s_gate * self.s_gate_scale).square())
        return self.o_proj(l2_norm(out))


class DoryMlp(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        H, I, bias = config.hidden_size, config.intermediate_size, bool(config.mlp_bias)
        self.gate_up_proj = FusedLinear(H, {0: I, 1: I}, bias=bias)
        self.down_proj = Linear(I, H, bias=bias)
        self.suv_gate, self.suv_up = nn.Parameter(torch.empty(I)), nn.Parameter(torch.empty(I))
        self.scale = H**0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        return self.down_proj(l2_norm(F.silu(gate * (self.suv_gate * self.scale)) * (up * (self.suv_up * self.scale))))


class DoryLayer(nn.Module):
    """``self_attn``, ``mlp``, and their rates ``lambda_1`` / ``lambda_2`` [H]."""

    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        self.self_attn, self.mlp = DoryAttention(config, layer_id), DoryMlp(config)
        self.lambda_1, self.lambda_2 = nn.Parameter(torch.empty(config.hidden_size)), nn.Parameter(torch.empty(config.hidden_size))
        self.rate_scale = config.ngpt_alpha_init / config.initializer_range

    def forward(self, h: torch.Tensor, ctx: ForwardContext) -> torch.Tensor:
        h = l2_norm(h)
        h = h + (self.lambda_1 * self.rate_scale).abs() * (l2_norm(self.self_attn(h, ctx)) - h)
        h = l2_norm(h)
        return h + (self.lambda_2 * self.rate_scale).abs() * (l2_norm(self.mlp(h)) - h)


class DoryBody(nn.Module):
    """``model.*``: ``embed_tokens``, ``layers.N`` (input, recurrent, output ones)."""

    def __init__(self, config) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(DoryLayer(config, i) for i in range(config.num_hidden_layers))
        self.rotary = nn.ModuleDict({t: RotaryEmbedding(config, config.head_dim, t) for t in set(config.layer_types)})
        self.inputs, self.recurrent, self.loops = config.n_input_layers, config.n_recurrent_layers, config.n_recurrent_loops
        self.ops = EAGER  # the decoder heads' protocol (use_fused_ops)

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention: BatchAttention,
                keep_rows: Optional[torch.Tensor], embed_overrides=None) -> torch.Tensor:
        """input_ids, positions [T] -> final hidden states [R, H] at ``keep_rows`` ([T, H] for None)."""
        h = with_embed_overrides(self.embed_tokens(input_ids), embed_overrides)  # [T, H]
        tables = {t: emb.cos_sin(positions, h.dtype) for t, emb in self.rotary.items()}
        full = tables.get("full_attention") or next(iter(tables.values()))
        ctx = ForwardContext(cos=full[0], sin=full[1], attention=attention, ops=self.ops,
                             local_cos_sin=tables.get("sliding_attention"))
        first, last = self.inputs, self.inputs + self.recurrent
        for layer in self.layers[:first]:
            h = layer(h, ctx)
        looped_in = l2_norm(h)
        for _ in range(self.loops):
            h = l2_norm(h) + looped_in
            for layer in self.layers[first:last]:
                h = layer(h, ctx)
        for layer in self.layers[last:]:
            h = layer(h, ctx)
        if keep_rows is not None:
            h = h.index_select(0, keep_rows)
        return l2_norm(h)


class ScaledLmHead(nn.Linear):
    """``lm_head``: its logits times ``logit_scale`` [V] / σ₀, in float32."""

    def __init__(self, config) -> None:
        super().__init__(config.hidden_size, config.vocab_size, bias=False)
        self.logit_scale = nn.Parameter(torch.empty(config.vocab_size))
        self.factor = 1.0 / config.initializer_range

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).float() * (self.logit_scale.float() * self.factor)


class _Dory:
    prefix_cache_problem = "its recurrent layers run once per loop, each loop with its own keys and values"

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        if hf_config.hidden_act != "silu":
            raise ValueError(f"Dory with hidden_act {hf_config.hidden_act!r} is not supported (silu is)")

    def make_body(self, config) -> nn.Module:
        return DoryBody(config)

    @staticmethod
    def renamed_checkpoint_tensor(name: str) -> str:
        """The hub's two blocks a layer (``layers.{2i}.mixer``: attention, ``{2i+1}.mixer``: MLP; ``attn_alpha`` /
        ``mlp_alpha``) under transformers' names; ``backbone.`` as ``model.``."""
        match = _LAYER_PAIR.search(name)
        if match is not None:
            index, part = int(match[1]), match[2]
            part = {"attn_alpha": "lambda_1", "mlp_alpha": "lambda_2"}.get(part, ("self_attn", "mlp")[index % 2])
            name = f"{name[: match.start()]}layers.{index // 2}.{part}{name[match.end():]}"
        name = name.replace(".self_attn.g_proj.", ".self_attn.gate_proj.")
        if name.startswith("backbone."):
            name = "model." + name[len("backbone."):]
        return name.replace(".embeddings.", ".embed_tokens.")


class DoryForCausalLM(_Dory, DecoderForCausalLM):
    def __init__(self, config, pooling=None) -> None:
        super().__init__(config)
        self.lm_head = ScaledLmHead(config)
        softcap = getattr(config, "final_logit_softcapping", None)
        self.pooler = Pooler(PoolingMethod.LAST, LabelProbabilityHead(self.lm_head, softcap))


class DoryModel(_Dory, DecoderForEmbedding):
    pass
