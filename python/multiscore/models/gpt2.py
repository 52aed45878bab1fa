"""GPT-2 (openai-community/gpt2 ... gpt2-xl, distilgpt2, DialoGPT and the classifiers fine-tuned on
them): ``GPT2LMHeadModel`` (read at label tokens: LM scoring, perplexity of each item after the query),
``GPT2ForSequenceClassification`` (``score`` at the last token), ``GPT2ForTokenClassification``
(``classifier`` on every token) and ``GPT2Model``. GPT-BigCode (StarCoder, SantaCoder, WizardCoder,
Granite Code 20B/34B, Octocoder) is the same body with nn.Linear projections and, with
``multi_query``, one key/value head: ``GPTBigCodeForCausalLM`` / ``ForSequenceClassification`` /
``ForTokenClassification`` / ``Model``. GPT-Neo (EleutherAI/gpt-neo-125m, 1.3B, 2.7B) too: unscaled scores, and
a window of ``window_size`` positions on its ``local`` layers (``GPTNeoForCausalLM`` / ... / ``Model``).

Learned absolute positions (``wpe``) added to the token embeddings (``wte``); per block (``h.N``),
pre-norm LayerNorms: ``ln_1`` -> ``attn`` (fused ``c_attn`` [q | k | v], ``c_proj``), ``ln_2`` -> ``mlp``
(``c_fc``, ``activation_function``, ``c_proj``); a final ``ln_f``. Its projections are Conv1D
modules, weights stored [in, out]: transposed as they load (``Linear.load_transposed``). Scores are
scaled by 1/sqrt(head_dim) (``scale_attn_weights``) and by 1/(layer + 1) with
``scale_attn_by_inverse_layer_idx``.

MIS is exact: each item token's position is its single-item one (query length + t), so ``wpe`` gives
it the same embedding as when the item is scored alone. Checkpoints name the body ``transformer.*``
(the original ones use no prefix at all); the LM head is tied to ``wte``.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.layers.attention import BatchAttention
from multiscore.layers.fused_ops import EAGER
from multiscore.layers.linear import FusedLinear, Linear, hf_activation
from multiscore.models.decoder import (
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
    with_embed_overrides,
)


def conv1d_linear(n_in: int, n_out: int) -> Linear:
    """GPT-2's Conv1D as a Linear: its [in, out] weight is transposed as it loads."""
    layer = Linear(n_in, n_out)
    layer.load_transposed = True
    return layer


class Gpt2Attention(nn.Module):
    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        H, self.num_heads, self.layer_id = config.hidden_size, config.num_attention_heads, layer_id
        self.head_dim = H // self.num_heads
        self.c_attn = conv1d_linear(H, 3 * H)
        self.c_proj = conv1d_linear(H, H)
        self.scale = self.head_dim**-0.5 if getattr(config, "scale_attn_weights", True) else 1.0
        if getattr(config, "scale_attn_by_inverse_layer_idx", False):
            self.scale /= float(layer_id + 1)

    def forward(self, x: torch.Tensor, attention: BatchAttention) -> torch.Tensor:
        """x [T, H] -> [T, H], before the residual add."""
        T, H = x.shape
        q, k, v = self.c_attn(x).view(T, 3, self.num_heads, self.head_dim).unbind(1)  # [T, heads, D] each
        out = attention(q, k, v, self.scale, layer=self.layer_id)
        return self.c_proj(out.reshape(T, H))


class BigCodeAttention(nn.Module):
    """GPT-BigCode's: ``c_attn`` [q (H) | k (D) | v (D)] with ``multi_query`` (one key/value head for
    all heads), else per head [q | k | v] (rows head-major, unlike GPT-2's [q | k | v] of all heads)."""

    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        H, self.num_heads, self.layer_id = config.hidden_size, config.num_attention_heads, layer_id
        self.head_dim = H // self.num_heads
        self.multi_query = bool(config.multi_query)
        kv_width = self.head_dim if self.multi_query else H
        self.c_attn = Linear(H, H + 2 * kv_width)
        self.c_proj = Linear(H, H)
        self.scale = self.head_dim**-0.5 if getattr(config, "scale_attn_weights", True) else 1.0

    def forward(self, x: torch.Tensor, attention: BatchAttention) -> torch.Tensor:
        """x [T, H] -> [T, H], before the residual add."""
        T, H = x.shape
        D, qkv = self.head_dim, self.c_attn(x)
        if self.multi_query:
            q, k, v = qkv.split((H, D, D), dim=-1)  # [T, H], [T, D], [T, D]
            q, k, v = q.view(T, self.num_heads, D), k.view(T, 1, D), v.view(T, 1, D)
        else:
            q, k, v = qkv.view(T, self.num_heads, 3 * D).split(D, dim=-1)  # [T, heads, D] each
        out = attention(q, k, v, self.scale, layer=self.layer_id)
        return self.c_proj(out.reshape(T, H))


class NeoAttention(nn.Module):
    """GPT-Neo's (``attn.attention.*``, served as ``attn.*``): q/k/v without biases (fused here), a biased
    ``out_proj``, scores *not* scaled, and on its ``local`` layers a window of ``window_size`` positions."""

    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        H, self.num_heads, self.layer_id = config.hidden_size, config.num_attention_heads, layer_id
        self.head_dim = H // self.num_heads
        self.qkv_proj = FusedLinear(H, {"q": H, "k": H, "v": H}, bias=False)
        self.out_proj = Linear(H, H)
        self.window = config.window_size if config.attention_layers[layer_id] == "local" else None

    def forward(self, x: torch.Tensor, attention: BatchAttention) -> torch.Tensor:
        """x [T, H] -> [T, H], before the residual add."""
        T, H = x.shape
        q, k, v = self.qkv_proj(x).view(T, 3, self.num_heads, self.head_dim).unbind(1)  # [T, heads, D] each
        out = attention(q, k, v, 1.0, window=self.window, layer=self.layer_id)
        return self.out_proj(out.reshape(T, H))


class Gpt2Mlp(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        H = config.hidden_size
        inner = getattr(config, "n_inner", None) or getattr(config, "intermediate_size", None) or 4 * H
        projection = conv1d_linear if config.model_type == "gpt2" else Linear  # GPT-2's Conv1D; nn.Linear elsewhere
        self.c_fc = projection(H, inner)
        self.c_proj = projection(inner, H)
        self.activation = hf_activation(config.activation_function, "activation_function")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.c_fc(x, self.activation))


class Gpt2Block(nn.Module):
    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        H, eps = config.hidden_size, config.layer_norm_epsilon
        self.ln_1, self.ln_2 = nn.LayerNorm(H, eps=eps), nn.LayerNorm(H, eps=eps)
        attention = {"gpt_bigcode": BigCodeAttention, "gpt_neo": NeoAttention}.get(config.model_type, Gpt2Attention)
        self.attn = attention(config, layer_id)
        self.mlp = Gpt2Mlp(config)

    def forward(self, x: torch.Tensor, attention: BatchAttention) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), attention)
        return x + self.mlp(self.ln_2(x))


class Gpt2Body(nn.Module):
    """``transformer.*``: ``wte``, ``wpe``, blocks ``h.N``, ``ln_f``."""

    def __init__(self, config) -> None:
        super().__init__()
        self.wte = nn.Embedding(config.vocab_size, config.hidden_size)
        self.ops = EAGER  # the decoder heads' protocol (use_fused_ops); this body's norms are LayerNorms
        self.wpe = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.h = nn.ModuleList(Gpt2Block(config, i) for i in range(config.num_hidden_layers))
        self.ln_f = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_epsilon)

    @property
    def embed_tokens(self) -> nn.Embedding:
        """The token embeddings, by the name the decoder heads tie the LM head to."""
        return self.wte

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention: BatchAttention,
                keep_rows: Optional[torch.Tensor], embed_overrides=None) -> torch.Tensor:
        """input_ids, positions [T] -> final hidden states [R, H] at ``keep_rows`` ([T, H] for None).
        ``embed_overrides``: (rows [K], vectors [K, H]) that replace those rows' token embeddings (the
        position embeddings are added to them, as transformers adds them to ``inputs_embeds``)."""
        x = with_embed_overrides(self.wte(input_ids), embed_overrides)  # [T, H]
        x = x + self.wpe(positions)
        for block in self.h:
            x = block(x, attention)
        if keep_rows is not None:
            x = x.index_select(0, keep_rows)
        return self.ln_f(x)


class _Gpt2:
    """The decoder heads (decoder.py) over this body."""

    # The original checkpoints' tensors have no prefix (``h.0.attn.c_attn.weight``); transformers' have ``transformer.``.
    weight_prefix_aliases = {"transformer.": "model.", "": "model."}

    def make_body(self, config) -> nn.Module:
        return Gpt2Body(config)


class GPT2LMHeadModel(_Gpt2, DecoderForCausalLM):
    pass


class GPT2ForSequenceClassification(_Gpt2, DecoderForSequenceClassification):
    pass


class GPT2ForTokenClassification(_Gpt2, DecoderForTokenClassification):
    weight_renames = {"classifier.": "score."}  # transformers' name for the token head


class GPT2Model(_Gpt2, DecoderForEmbedding):
    pass


# GPT-BigCode: the same heads over the same body (Gpt2Block picks the projections by model_type).
class GPTBigCodeForCausalLM(GPT2LMHeadModel):
    pass


class GPTBigCodeForSequenceClassification(GPT2ForSequenceClassification):
    pass


class GPTBigCodeForTokenClassification(GPT2ForTokenClassification):
    pass


class GPTBigCodeModel(GPT2Model):
    pass


class _GptNeo:
    # ``attn.attention.*`` -> our ``attn.*`` (its q/k/v fused by the decoder heads' packed names)
    weight_renames = {".attn.attention.": ".attn."}

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        # With FlashInfer (which has no windows yet) the context stops at the local layers' window.
        if "local" in hf_config.attention_layers:
            hf_config.sliding_window = hf_config.window_size


class GPTNeoForCausalLM(_GptNeo, GPT2LMHeadModel):
    pass


class GPTNeoForSequenceClassification(_GptNeo, GPT2ForSequenceClassification):
    pass


class GPTNeoForTokenClassification(_GptNeo, GPT2ForTokenClassification):
    weight_renames = {**_GptNeo.weight_renames, **GPT2ForTokenClassification.weight_renames}


class GPTNeoModel(_GptNeo, GPT2Model):
    pass
