"""Gemma 3n (google/gemma-3n-E2B / E4B, text): ``Gemma3nForCausalLM``, ``Gemma3nTextModel`` (an embedder), our
``Gemma3nForSequenceClassification`` (for ``classifier_from_token``), and the multimodal
``Gemma3nForConditionalGeneration`` / ``Gemma3nModel`` served as these on text (configs/checkpoint_layouts.py).

Gemma 4's attention (gemma4.py: per-head q/k norms, weightless v norm, scale 1, KV sharing in the last
``num_kv_shared_layers`` layers, sliding and full layers with their own rotary) and per-layer embeddings (PLE;
token ids past ``vocab_size_per_layer_input`` read row 0), around what Gemma 3n adds, per token:

- AltUp: the hidden state is N = ``altup_num_inputs`` streams (the embeddings, and N - 1 projections of them
  matched to their RMS magnitude). Each layer predicts every stream from all of them (coefficients from a tanh
  router on stream 0), runs its block on stream 0, then corrects every stream by the block's innovation; the
  per-layer input is added to streams 1.. only. At the end the streams are projected back, matched in
  magnitude, averaged and normed.
- Laurel: a low-rank residual beside attention, (x + attn + laurel) / √2.
- Activation sparsity (``activation_sparsity_pattern``): the gate's values below mean + std · Φ⁻¹(sparsity) cut
  to zero, per token.
- A per-layer MLP width (``intermediate_size`` per layer); logits soft-capped.

The scale constants are rounded to the model's dtype, as transformers holds them. MIS is exact: everything
but attention is per token.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.layers.attention import BatchAttention
from multiscore.layers.fused_ops import EAGER
from multiscore.layers.linear import Linear
from multiscore.layers.norm import RMSNorm
from multiscore.layers.rotary import RotaryEmbedding
from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    GatedMLP,
    mlp_activation,
)
from multiscore.models.gemma4 import Gemma4Attention, Gemma4Context, _windows

_MAGNITUDE_FLOOR = 1e-5  # AltUp's magnitude matching: the mean square is floored here before its root


def _const(value: float, like: torch.Tensor) -> torch.Tensor:
    """A scale as transformers holds it: a tensor in the activations' dtype."""
    return torch.tensor(value, dtype=like.dtype, device=like.device)


class SparseGatedMLP(GatedMLP):
    """``mlp.*``: Gemma's gated MLP, the gate's activations cut below mean + std · Φ⁻¹(sparsity) (per token)."""

    def __init__(self, config, options: BlockOptions, size: int, sparsity: float) -> None:
        super().__init__(config, options, size)
        with torch.device("cpu"):  # a real number even while the model is built on the meta device
            self.std_multiplier = (float(torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(sparsity)))
                                   if sparsity > 0 else None)

    def _rows(self, x: torch.Tensor, act_mul) -> torch.Tensor:
        """x [M, H] -> [M, H]."""
        if self.std_multiplier is None:
            return super()._rows(x, act_mul)
        gate, up = self.gate_up_proj(x, keep_padding=True).chunk(2, dim=-1)  # [M', I] each
        cut = gate.mean(-1, keepdim=True) + gate.std(-1, keepdim=True, unbiased=False) * _const(self.std_multiplier, gate)
        return self.down_proj(act_mul(torch.cat([F.relu(gate - cut), up], dim=-1)))[: x.shape[0]]


class AltUp(nn.Module):
    """``altup.*``: ``router_norm``, ``modality_router`` [N, H], ``prediction_coefs`` [N·N, N],
    ``correction_coefs`` [N, N], ``correct_output_scale`` [H]."""

    def __init__(self, config) -> None:
        super().__init__()
        H, N = config.hidden_size, config.altup_num_inputs
        self.router_norm = RMSNorm(H, config.rms_norm_eps)
        self.modality_router = nn.Linear(H, N, bias=False)
        self.prediction_coefs = nn.Linear(N, N * N, bias=False)
        self.correction_coefs = nn.Linear(N, N, bias=False)
        self.correct_output_scale = nn.Parameter(torch.empty(H))
        self.hidden_size, self.num_streams = H, N

    def modalities(self, x: torch.Tensor, ops) -> torch.Tensor:
        """x [T, H] -> [T, N]: tanh of the router on x, normed and scaled by 1 / H."""
        routed = self.modality_router(ops.rms_norm(x, self.router_norm.weight, self.router_norm.eps)
                                      * _const(1.0 / self.hidden_size, x))
        return torch.tanh(routed.float()).to(x.dtype)

    def predict(self, streams: torch.Tensor, ops) -> torch.Tensor:
        """streams [N, T, H] -> predictions [N, T, H]: each stream plus a mix of all, by stream 0's coefficients."""
        N, T = self.num_streams, streams.shape[1]
        coefs = self.prediction_coefs(self.modalities(streams[0], ops)).view(T, N, N).permute(0, 2, 1)  # [T, N, N]
        return torch.matmul(streams.permute(1, 2, 0), coefs).permute(2, 0, 1) + streams

    def correct(self, predictions: torch.Tensor, activated: torch.Tensor, ops) -> torch.Tensor:
        """predictions [N, T, H], activated [T, H] (the block's output on stream 0) -> corrected [N, T, H]."""
        coefs = self.correction_coefs(self.modalities(activated, ops)) + 1.0  # [T, N]
        return (activated - predictions[0])[None] * coefs.permute(1, 0)[..., None] + predictions


class Laurel(nn.Module):
    """``laurel.*``: x + norm(linear_right(linear_left(x))), of rank ``laurel_rank``."""

    def __init__(self, config) -> None:
        super().__init__()
        self.linear_left = Linear(config.hidden_size, config.laurel_rank, bias=False)
        self.linear_right = Linear(config.laurel_rank, config.hidden_size, bias=False)
        self.post_laurel_norm = RMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(self, x: torch.Tensor, ops) -> torch.Tensor:
        norm = self.post_laurel_norm
        return x + ops.rms_norm(self.linear_right(self.linear_left(x)), norm.weight, norm.eps)


class Gemma3nLayer(nn.Module):
    def __init__(self, config, layer_id: int, window: Optional[int]) -> None:
        super().__init__()
        H, eps = config.hidden_size, config.rms_norm_eps
        self.altup, self.laurel = AltUp(config), Laurel(config)
        self.self_attn = Gemma4Attention(config, layer_id, window)
        widths = config.intermediate_size
        width = widths[layer_id] if isinstance(widths, (list, tuple)) else widths
        self.mlp = SparseGatedMLP(config, BlockOptions(mlp_act=mlp_activation(config)), width,
                                  float(config.activation_sparsity_pattern[layer_id]))
        for name in ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                     "post_feedforward_layernorm", "post_per_layer_input_norm"):
            setattr(self, name, RMSNorm(H, eps))
        self.per_layer_input_gate = Linear(H, config.hidden_size_per_layer_input, bias=False)
        self.per_layer_projection = Linear(config.hidden_size_per_layer_input, H, bias=False)
        self.per_layer_act = ((lambda x: F.gelu(x, approximate="tanh")) if mlp_activation(config) == "gelu_tanh"
                              else F.silu)
        self.correct_scale = bool(getattr(config, "altup_correct_scale", True))

    def _norm(self, x: torch.Tensor, name: str, ops) -> torch.Tensor:
        norm = getattr(self, name)
        return ops.rms_norm(x, norm.weight, norm.eps)

    def forward(self, streams: torch.Tensor, per_layer: torch.Tensor, ctx: Gemma4Context, keep_rows=None) -> torch.Tensor:
        """streams [N, T, H], per_layer [T, P] -> streams [N, T, H] ([N, R, H] for ``keep_rows``)."""
        ops = ctx.ops
        predictions = self.altup.predict(streams, ops)
        active = predictions[0]
        normed = self._norm(active, "input_layernorm", ops)
        laurel = self.laurel(normed, ops)
        attn = self.self_attn(normed, ctx, keep_rows)
        if keep_rows is not None:
            active, laurel, per_layer = (t.index_select(0, keep_rows) for t in (active, laurel, per_layer))
            predictions = predictions.index_select(1, keep_rows)
        hidden = (active + self._norm(attn, "post_attention_layernorm", ops) + laurel) / math.sqrt(2)
        mlp = self.mlp(self._norm(hidden, "pre_feedforward_layernorm", ops), ops)
        hidden = hidden + self._norm(mlp, "post_feedforward_layernorm", ops)
        streams = self.altup.correct(predictions, hidden, ops)
        first = streams[0] * self.altup.correct_output_scale.to(hidden.dtype) if self.correct_scale else streams[0]
        gate = self.per_layer_act(self.per_layer_input_gate(first)) * per_layer  # [T, P]
        added = self._norm(self.per_layer_projection(gate), "post_per_layer_input_norm", ops)
        return torch.cat([streams[:1], streams[1:] + added], dim=0)


class Gemma3nBody(nn.Module):
    """``model.*`` of a Gemma 3n text checkpoint; called as decoder.DecoderModel is."""

    def __init__(self, config) -> None:
        super().__init__()
        self.config = config
        H, L, P, N = config.hidden_size, config.num_hidden_layers, config.hidden_size_per_layer_input, config.altup_num_inputs
        self.embed_tokens = nn.Embedding(config.vocab_size, H)
        self.embed_tokens_per_layer = nn.Embedding(config.vocab_size_per_layer_input, L * P)
        self.per_layer_model_projection = Linear(H, L * P, bias=False)
        self.per_layer_projection_norm = RMSNorm(P, config.rms_norm_eps)
        self.altup_projections = nn.ModuleList(Linear(H, H, bias=False) for _ in range(N - 1))
        self.altup_unembed_projections = nn.ModuleList(Linear(H, H, bias=False) for _ in range(N - 1))
        self.layers = nn.ModuleList(Gemma3nLayer(config, i, w) for i, w in enumerate(_windows(config)))
        self.norm = RMSNorm(H, config.rms_norm_eps)
        self.rotary_emb = nn.ModuleDict({t: RotaryEmbedding(config, config.head_dim, t) for t in set(config.layer_types)})
        self.ops = EAGER  # the worker swaps in compiled ones (``ModelWorker``)
        self.first_shared = L - (getattr(config, "num_kv_shared_layers", 0) or 0)

    def _per_layer_inputs(self, ids: torch.Tensor, embeds: torch.Tensor) -> torch.Tensor:
        """PLE: ids [T], embeds [T, H] -> [T, L, P]: (the projected embeddings, normed, plus the token's own
        per-layer rows; ids past the per-layer table read row 0) · 1/√2."""
        T, P, H = ids.shape[0], self.config.hidden_size_per_layer_input, self.config.hidden_size
        projected = (self.per_layer_model_projection(embeds) * _const(H**-0.5, embeds)).view(T, -1, P)
        norm = self.per_layer_projection_norm
        projected = self.ops.rms_norm(projected, norm.weight, norm.eps)
        ids = torch.where((ids >= 0) & (ids < self.config.vocab_size_per_layer_input), ids, 0)
        tokens = self.embed_tokens_per_layer(ids)
        tokens = (tokens * _const(P**0.5, tokens)).view(T, -1, P)
        return (projected + tokens) * _const(2**-0.5, embeds)

    @staticmethod
    def _matched(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """x [T, H] scaled to the RMS magnitude ``target`` [T, 1]."""
        return x * target / torch.sqrt((x**2).mean(-1, keepdim=True).clamp(min=_MAGNITUDE_FLOOR))

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention: BatchAttention,
                keep_rows: Optional[torch.Tensor], embed_overrides=None) -> torch.Tensor:
        """input_ids, positions [T] -> final hidden states at ``keep_rows`` [R, H] ([T, H] for None)."""
        hidden = self.embed_tokens(input_ids)
        hidden = hidden * _const(self.config.hidden_size**0.5, hidden)  # [T, H]
        ple_ids = input_ids
        if embed_overrides is not None:  # given vectors unscaled; their per-layer rows row 0's
            rows, vectors = embed_overrides
            hidden.index_copy_(0, rows, vectors.to(hidden.dtype))
            ple_ids = input_ids.index_fill(0, rows, 0)
        per_layer = self._per_layer_inputs(ple_ids, hidden)
        target = (hidden**2).mean(-1, keepdim=True) ** 0.5
        streams = torch.stack([hidden] + [self._matched(p(hidden), target) for p in self.altup_projections])  # [N, T, H]
        ctx = Gemma4Context({t: emb.cos_sin(positions, hidden.dtype) for t, emb in self.rotary_emb.items()},
                            attention, self.ops)
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            if keep_rows is not None and i == self.first_shared and i > 0:
                # The KV-sharing layers make no keys: they run on the rows the pooler reads alone (gemma4.py).
                ctx.keep_only(keep_rows)
                streams, per_layer = streams.index_select(1, keep_rows), per_layer.index_select(0, keep_rows)
            rows = keep_rows if i == last and ctx.read_rows is None else None
            streams = layer(streams, per_layer[:, i], ctx, rows)
        target = (streams[0] ** 2).mean(-1, keepdim=True) ** 0.5
        unembedded = [streams[0]] + [self._matched(p(s), target) for p, s in zip(self.altup_unembed_projections, streams[1:])]
        return self.ops.rms_norm(torch.stack(unembedded).mean(dim=0), self.norm.weight, self.norm.eps)


class _Gemma3n:
    make_body = staticmethod(Gemma3nBody)

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        if getattr(hf_config, "altup_active_idx", 0) != 0:
            raise ValueError(f"Gemma 3n with altup_active_idx {hf_config.altup_active_idx} is not supported (0 is)")


class Gemma3nForCausalLM(_Gemma3n, DecoderForCausalLM):
    """Next-token probabilities of label tokens (logits soft-capped by ``final_logit_softcapping``)."""


class Gemma3nForSequenceClassification(_Gemma3n, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class Gemma3nTextModel(_Gemma3n, DecoderForEmbedding):
    pass
