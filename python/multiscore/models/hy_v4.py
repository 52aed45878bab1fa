"""Tencent Hy4 (tencent/Hy4-preview; ``hy_v4``): ``HYV4ForCausalLM``, ``HYV4Model``, and our
``HYV4ForSequenceClassification`` (for ``classifier_from_token``).

- Hyper-connections: the residual stream is ``hc_mult`` streams [T, n, H]. Before each attention and each MLP a
  float32 mixer (``attn_hc`` / ``ffn_hc``: ``fn`` [2n, n·H], ``base`` [2n], ``scale`` [2]) reads all streams
  (x·fnᵀ times rsqrt(mean(x²) + eps)) into pre [n] = σ(·) + ε and post [n] = magnitude·σ(·) + ε; the block runs on
  Σ pre_k·stream_k, and stream_k += post_k·output. At the end ``hc_head`` mixes the streams into one (pre only).
- Attention: DeepSeek-V3's latent attention (its rope part over interleaved pairs), a learned sink per head, and
  the output gated per dimension by σ(``gate_proj``(x)). Its sparse attention (DSA: each token's top
  ``index_topk`` keys by an indexer, some layers reusing the previous one's) sees every key below that many,
  where the context stops (attention_geometry.dense_attention_limit): the indexers' weights are not read.
- MLPs: the first dense, then DeepSeek-V3's experts (float32 sigmoid router, biased choice, renormalised, scaled)
  with SwiGLU clamped at ``swiglu_limit`` (gate from above, up both ways), beside an unclamped shared expert.

Checkpoints' names (``hc_pre.hc_attn_layer.hc_fn``, ``learnable_sink_param``, ``linear_gate`` ...) are read under
ours. MIS is exact: below ``index_topk`` everything but attention is per token.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.layers.attention import BatchAttention
from multiscore.layers.fused_ops import EAGER
from multiscore.layers.norm import RMSNorm
from multiscore.layers.rotary import RotaryEmbedding
from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    ForwardContext,
    GatedMLP,
    mlp_activation,
    with_embed_overrides,
)
from multiscore.models.deepseek import DeepseekMoeBlock, is_sparse_layer
from multiscore.models.experts import StackedExperts
from multiscore.models.latent_attention import LatentAttention, LatentAttentionModel


class ClampedExperts(StackedExperts):
    """StackedExperts whose SwiGLU clamps: silu(min(gate, L)) · clamp(up, -L, L)."""

    def __init__(self, num_experts: int, hidden: int, inner: int, limit: float) -> None:
        super().__init__(num_experts, hidden, inner, F.silu)
        self.limit = limit

    def _expert(self, expert: int, x: torch.Tensor) -> torch.Tensor:
        gate, up = F.linear(x, self.gate_up_proj[expert]).chunk(2, dim=-1)
        return F.linear(F.silu(gate.clamp(max=self.limit)) * up.clamp(-self.limit, self.limit), self.down_proj[expert])


class HyperConnection(nn.Module):
    """``fn`` [k·n, n·H], ``base`` [k·n], ``scale`` [k] (float32): k = 2 (pre, post) before a block, 1 (pre) at the head."""

    def __init__(self, config, outputs: int) -> None:
        super().__init__()
        n, H = config.hc_mult, config.hidden_size
        self.fn = nn.Parameter(torch.empty(outputs * n, n * H, dtype=torch.float32))
        self.base = nn.Parameter(torch.empty(outputs * n, dtype=torch.float32))
        self.scale = nn.Parameter(torch.empty(outputs, dtype=torch.float32))
        self.streams, self.eps, self.norm_eps = n, config.hc_eps, config.rms_norm_eps
        self.magnitude = float(getattr(config, "hc_magnitude", 2.0))

    def weights(self, streams: torch.Tensor) -> torch.Tensor:
        """streams [T, n, H] -> σ(mixes · scale + base) [T, k·n] in float32 (before ε and the post magnitude)."""
        flat = streams.flatten(1).float()  # [T, n·H]
        mixes = F.linear(flat, self.fn.float()) * torch.rsqrt(flat.square().mean(-1, keepdim=True) + self.norm_eps)
        scale = self.scale.float().repeat_interleave(self.streams)  # [k·n]
        return torch.sigmoid(mixes * scale + self.base.float())

    def forward(self, streams: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """streams [T, n, H] -> (post [T, n] float32, the block's input Σ pre_k·stream_k [T, H])."""
        pre, post = self.weights(streams).split(self.streams, dim=-1)
        pre, post = pre + self.eps, self.magnitude * post + self.eps
        return post, (pre.unsqueeze(-1) * streams).sum(dim=1).to(streams.dtype)

    def head(self, streams: torch.Tensor) -> torch.Tensor:
        """streams [T, n, H] -> Σ pre_k·stream_k [T, H] (``hc_head``: one set of weights)."""
        pre = self.weights(streams) + self.eps
        return (pre.unsqueeze(-1) * streams).sum(dim=1).to(streams.dtype)


class HyV4Layer(nn.Module):
    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        options = BlockOptions(mlp_act=mlp_activation(config))
        self.self_attn = LatentAttention(config, layer_id, interleaved_rope=True, sinks=True, output_gate=True)
        if is_sparse_layer(config, layer_id):
            self.mlp = DeepseekMoeBlock(config, options, sigmoid=True, float32_router=True, stacked=True)
            self.mlp.experts = ClampedExperts(config.n_routed_experts, config.hidden_size, config.moe_intermediate_size,
                                              float(config.swiglu_limit))
        else:
            self.mlp = GatedMLP(config, options)
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.attn_hc, self.ffn_hc = HyperConnection(config, 2), HyperConnection(config, 2)

    def forward(self, streams: torch.Tensor, ctx: ForwardContext) -> torch.Tensor:
        """streams [T, n, H] -> [T, n, H]."""
        ops = ctx.ops
        post, x = self.attn_hc(streams)
        out = self.self_attn(ops.rms_norm(x, self.input_layernorm.weight, self.input_layernorm.eps), ctx)
        streams = (post.unsqueeze(-1) * out.float().unsqueeze(1) + streams.float()).to(streams.dtype)
        post, x = self.ffn_hc(streams)
        norm = self.post_attention_layernorm
        out = self.mlp(ops.rms_norm(x, norm.weight, norm.eps), ops)
        return (post.unsqueeze(-1) * out.float().unsqueeze(1) + streams.float()).to(streams.dtype)


class HyV4Body(nn.Module):
    """``model.*``: ``embed_tokens``, ``layers.N``, ``hc_head``, ``norm``."""

    def __init__(self, config) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(HyV4Layer(config, i) for i in range(config.num_hidden_layers))
        self.hc_head = HyperConnection(config, 1)
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.rotary_emb = RotaryEmbedding(config, config.qk_rope_head_dim)  # the rope part alone rotates
        self.streams = config.hc_mult
        self.ops = EAGER  # the decoder heads' protocol (use_fused_ops)

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention: BatchAttention,
                keep_rows: Optional[torch.Tensor], embed_overrides=None) -> torch.Tensor:
        """input_ids, positions [T] -> final hidden states [R, H] at ``keep_rows`` ([T, H] for None)."""
        x = with_embed_overrides(self.embed_tokens(input_ids), embed_overrides)  # [T, H]
        cos, sin = self.rotary_emb.cos_sin(positions, x.dtype)
        ctx = ForwardContext(cos=cos, sin=sin, attention=attention, ops=self.ops)
        streams = x.unsqueeze(1).expand(-1, self.streams, -1).contiguous()  # [T, n, H]
        for layer in self.layers:
            streams = layer(streams, ctx)
        if keep_rows is not None:
            streams = streams.index_select(0, keep_rows)
        return self.ops.rms_norm(self.hc_head.head(streams), self.norm.weight, self.norm.eps)


class _HyV4(LatentAttentionModel):
    # The hub's names, and the ones transformers saves.
    weight_renames = {".hc_pre.hc_attn_layer.hc_": ".attn_hc.", ".hc_pre.hc_mlp_layer.hc_": ".ffn_hc.",
                      ".hc_pre.hc_head.hc_head_": ".hc_head.", ".hc_head.hc_": ".hc_head.",
                      ".learnable_sink_param": ".sinks", ".linear_gate.": ".gate_proj."}


    def make_body(self, config) -> nn.Module:
        return HyV4Body(config)


class HYV4ForCausalLM(_HyV4, DecoderForCausalLM):
    pass


class HYV4ForSequenceClassification(_HyV4, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class HYV4Model(_HyV4, DecoderForEmbedding):
    pass
