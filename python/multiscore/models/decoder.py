"""Decoder-only transformer blocks shared by Qwen3, Qwen2 and Llama.

Parameter names follow Hugging Face (``model.layers.N.self_attn...``) so checkpoints load by
name; q/k/v and gate/up are fused into one matmul each, filled from the separate checkpoint
tensors by ``stacked_params`` at load time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.layers.attention import AttentionBackend
from multiscore.layers.norm import RMSNorm
from multiscore.layers.rotary import RotaryEmbedding, apply_rotary


_MLP_CHUNK_ELEMENTS = 8 * 1024 * 1024  # elements of one MLP intermediate chunk (32 MB in fp32)


@dataclass(frozen=True)
class BlockOptions:
    """What differs between the architectures' decoder blocks."""

    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    qk_norm: bool = False  # Qwen3: RMSNorm over each head of q and k before rotary


@dataclass
class ForwardContext:
    """Per-batch state every layer reads (built once by the worker)."""

    cos: torch.Tensor  # [T, 1, head_dim]
    sin: torch.Tensor
    backend: AttentionBackend
    attn_metadata: Any


def head_dim_of(config) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


class DecoderAttention(nn.Module):
    def __init__(self, config, options: BlockOptions) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = getattr(config, "num_key_value_heads", None) or self.num_heads
        self.head_dim = head_dim_of(config)
        self.q_size = self.num_heads * self.head_dim
        self.kv_size = self.num_kv_heads * self.head_dim
        self.scale = self.head_dim**-0.5
        self.qkv_proj = nn.Linear(config.hidden_size, self.q_size + 2 * self.kv_size, bias=options.qkv_bias)
        self.o_proj = nn.Linear(self.q_size, config.hidden_size, bias=options.o_bias)
        self.qk_norm = options.qk_norm
        if options.qk_norm:
            self.q_norm = RMSNorm(self.head_dim, config.rms_norm_eps)
            self.k_norm = RMSNorm(self.head_dim, config.rms_norm_eps)

    def stacked_shards(self) -> dict[str, tuple[int, int]]:
        q, kv = self.q_size, self.kv_size
        return {"q_proj": (0, q), "k_proj": (q, q + kv), "v_proj": (q + kv, q + 2 * kv)}

    def forward(self, hidden: torch.Tensor, ctx: ForwardContext, keep_rows=None) -> torch.Tensor:
        """hidden [T, H] -> [T, H], or [R, H] for only ``keep_rows`` (every row still serves as a key)."""
        T = hidden.shape[0]
        q, k, v = self.qkv_proj(hidden).split([self.q_size, self.kv_size, self.kv_size], dim=-1)
        q = q.view(T, self.num_heads, self.head_dim)
        k = k.view(T, self.num_kv_heads, self.head_dim)
        v = v.view(T, self.num_kv_heads, self.head_dim)
        if self.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = apply_rotary(q, ctx.cos, ctx.sin), apply_rotary(k, ctx.cos, ctx.sin)
        out = ctx.backend.forward(q, k, v, ctx.attn_metadata, self.scale)  # [T, Hq, D]
        if keep_rows is not None:
            out = out.index_select(0, keep_rows)  # [R, Hq, D]
        return self.o_proj(out.reshape(out.shape[0], self.q_size))


class GatedMLP(nn.Module):
    def __init__(self, config, options: BlockOptions) -> None:
        super().__init__()
        if getattr(config, "hidden_act", "silu") != "silu":
            raise ValueError(f"hidden_act {config.hidden_act!r} is not supported (only silu)")
        self.intermediate_size = config.intermediate_size
        self.gate_up_proj = nn.Linear(config.hidden_size, 2 * config.intermediate_size, bias=options.mlp_bias)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=options.mlp_bias)

    def stacked_shards(self) -> dict[str, tuple[int, int]]:
        i = self.intermediate_size
        return {"gate_proj": (0, i), "up_proj": (i, 2 * i)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Rows are independent: in chunks, the [rows, 2I] intermediate stays cache-sized, so the
        # memory-bound SiLU·up pass does not stream a [T, 2I] buffer through RAM (~15% on CPU).
        rows = max(128, _MLP_CHUNK_ELEMENTS // (2 * self.intermediate_size))
        if x.shape[0] <= rows:
            return self._mlp(x)
        out = x.new_empty(x.shape)
        for r0 in range(0, x.shape[0], rows):
            out[r0 : r0 + rows] = self._mlp(x[r0 : r0 + rows])
        return out

    def _mlp(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)  # [rows, I] each, views of one [rows, 2I]
        return self.down_proj(F.silu(gate).mul_(up))  # in place: one [rows, I] buffer, not two


class DecoderLayer(nn.Module):
    def __init__(self, config, options: BlockOptions) -> None:
        super().__init__()
        self.self_attn = DecoderAttention(config, options)
        self.mlp = GatedMLP(config, options)
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(self, hidden: torch.Tensor, ctx: ForwardContext, keep_rows=None) -> torch.Tensor:
        attn = self.self_attn(self.input_layernorm(hidden), ctx, keep_rows)
        hidden = (hidden if keep_rows is None else hidden.index_select(0, keep_rows)) + attn
        return hidden + self.mlp(self.post_attention_layernorm(hidden))


class DecoderModel(nn.Module):
    """``model.*`` of a Hugging Face decoder checkpoint: embeddings, layers, final norm."""

    def __init__(self, config, options: BlockOptions) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(config, options) for _ in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.rotary_emb = RotaryEmbedding(config, head_dim_of(config))

    def forward(
        self, input_ids: torch.Tensor, positions: torch.Tensor, backend: AttentionBackend, attn_metadata,
        readout_rows: torch.Tensor,
    ) -> torch.Tensor:
        """input_ids, positions [T] -> final hidden states at the read-out rows [R, H].

        Scoring reads R << T rows, so the last layer runs its attention output, MLP and the final
        norm on those rows only (its keys and values still come from all T rows).
        """
        hidden = self.embed_tokens(input_ids)  # [T, H]
        cos, sin = self.rotary_emb.cos_sin(positions, hidden.dtype)
        ctx = ForwardContext(cos=cos, sin=sin, backend=backend, attn_metadata=attn_metadata)
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            hidden = layer(hidden, ctx, readout_rows if i == last else None)
        return self.norm(hidden)


class DecoderForEmbedding(nn.Module):
    """A bare decoder (``Qwen3Model`` ...): final hidden states at the read-out rows, no head.

    Served as an embedding model (pooled states). Its checkpoint's tensors have no ``model.``
    prefix (the loader adds it); a causal checkpoint served with ``{"architectures":
    ["Qwen3Model"]}`` loads too (its LM head is left unused). The heads below extend it.
    """

    options_for: staticmethod  # (config) -> BlockOptions, set by each architecture
    causal_lm = False

    def __init__(self, config) -> None:
        super().__init__()
        self.config = config
        self.model = DecoderModel(config, self.options_for(config))

    def forward(self, input_ids, positions, backend, attn_metadata, readout_rows) -> torch.Tensor:
        return self.model(input_ids, positions, backend, attn_metadata, readout_rows)


class DecoderForCausalLM(DecoderForEmbedding):
    causal_lm = True

    def __init__(self, config) -> None:
        super().__init__(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        if getattr(config, "tie_word_embeddings", False):
            self.lm_head.weight = self.model.embed_tokens.weight

    def head(self) -> tuple[torch.Tensor, None]:
        return self.lm_head.weight, None


class DecoderForSequenceClassification(DecoderForEmbedding):
    """Last-token classifier: ``score`` head [num_labels, H] applied at the read-out rows."""

    def __init__(self, config) -> None:
        super().__init__(config)
        self.score = nn.Linear(config.hidden_size, config.num_labels, bias=False)

    def head(self) -> tuple[torch.Tensor, None]:
        return self.score.weight, None
