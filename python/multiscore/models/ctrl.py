"""CTRL (Salesforce/ctrl and its fine-tunes): ``CTRLLMHeadModel`` (read at label tokens), ``CTRLForSequenceClassification``
(``classifier`` at the last token) and ``CTRLModel``.

Pre-norm blocks (``layernorm1`` -> ``multi_head_attention``: biased ``Wq`` / ``Wk`` / ``Wv``, fused here, and
``dense``; ``layernorm2`` -> ``ffn``: Linear, ReLU, Linear), their LayerNorms at eps 1e-6 whatever the config says,
and a final ``layernorm`` at ``layer_norm_epsilon``. Token embeddings (``w``) are multiplied by sqrt(n_embd) and
sinusoidal positions added, computed as transformers computes its table: row p is
[sin(p·f_k) | cos(p·f_k)], f_k = 1 / 10000^(2k / n_embd), in float32. The LM head is tied to ``w`` and has its own
bias. MIS is exact: each item token's position is its single-item one.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.layers.attention import BatchAttention
from multiscore.layers.fused_ops import EAGER
from multiscore.layers.linear import FusedLinear, Linear
from multiscore.models.decoder import DecoderForEmbedding, DecoderForSequenceClassification, with_embed_overrides
from multiscore.models.phi import BiasedLmHeadCausalLM

CTRL_PACKED_MODULES = {"Wq": ("qkv", "q"), "Wk": ("qkv", "k"), "Wv": ("qkv", "v")}


class CtrlAttention(nn.Module):
    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        H, self.num_heads, self.layer_id = config.n_embd, config.n_head, layer_id
        self.head_dim = H // self.num_heads
        self.qkv = FusedLinear(H, {"q": H, "k": H, "v": H}, bias=True)
        self.dense = Linear(H, H)

    def forward(self, x: torch.Tensor, attention: BatchAttention) -> torch.Tensor:
        """x [T, H] -> [T, H], before the residual add."""
        T, H = x.shape
        q, k, v = self.qkv(x).view(T, 3, self.num_heads, self.head_dim).unbind(1)  # [T, heads, D] each
        return self.dense(attention(q, k, v, self.head_dim**-0.5, layer=self.layer_id).reshape(T, H))


class CtrlLayer(nn.Module):
    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        H = config.n_embd
        self.multi_head_attention = CtrlAttention(config, layer_id)
        self.ffn = nn.Sequential(Linear(H, config.dff), nn.ReLU(), Linear(config.dff, H))
        self.layernorm1, self.layernorm2 = nn.LayerNorm(H, eps=1e-6), nn.LayerNorm(H, eps=1e-6)

    def forward(self, x: torch.Tensor, attention: BatchAttention) -> torch.Tensor:
        x = x + self.multi_head_attention(self.layernorm1(x), attention)
        return x + self.ffn(self.layernorm2(x))


class CtrlBody(nn.Module):
    """``transformer.*``: ``w``, blocks ``h.N``, ``layernorm``."""

    def __init__(self, config) -> None:
        super().__init__()
        H = config.n_embd
        self.ops = EAGER  # the decoder heads' protocol (use_fused_ops); this body's norms are LayerNorms
        self.w = nn.Embedding(config.vocab_size, H)
        self.h = nn.ModuleList(CtrlLayer(config, i) for i in range(config.n_layer))
        self.layernorm = nn.LayerNorm(H, eps=config.layer_norm_epsilon)
        self.embed_scale = H**0.5
        with torch.device("cpu"):  # a real table even while the model is built on the meta device
            rates = 1 / torch.pow(10000, (2 * (torch.arange(H) // 2)).float() / H)
            self.frequencies = rates[0::2]  # [H / 2]

    @property
    def embed_tokens(self) -> nn.Embedding:
        return self.w

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention: BatchAttention,
                keep_rows: Optional[torch.Tensor], embed_overrides=None) -> torch.Tensor:
        """input_ids, positions [T] -> final hidden states [R, H] at ``keep_rows`` ([T, H] for None). Given
        embeddings are scaled as transformers scales ``inputs_embeds``."""
        x = with_embed_overrides(self.w(input_ids), embed_overrides) * self.embed_scale  # [T, H]
        angles = positions.float()[:, None] * self.frequencies.to(positions.device)[None]  # [T, H / 2]
        x = x + torch.cat([angles.sin(), angles.cos()], dim=-1).to(x.dtype)
        for block in self.h:
            x = block(x, attention)
        if keep_rows is not None:
            x = x.index_select(0, keep_rows)
        return self.layernorm(x)


class _Ctrl:
    weight_prefix_aliases = {"transformer.": "model.", "": "model."}
    packed_modules_mapping = CTRL_PACKED_MODULES

    def make_body(self, config) -> nn.Module:
        return CtrlBody(config)


class CTRLLMHeadModel(_Ctrl, BiasedLmHeadCausalLM):
    pass


class CTRLForSequenceClassification(_Ctrl, DecoderForSequenceClassification):
    weight_renames = {"classifier.": "score."}  # transformers' name for the head


class CTRLModel(_Ctrl, DecoderForEmbedding):
    pass
