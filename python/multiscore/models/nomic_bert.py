"""NomicBERT encoders (``NomicBertModel``: nomic-embed-text-v1 / v1.5; ``NomicBertForSequenceClassification``).
BERT's post-norm layers with rotary instead of position embeddings, no biases in attention or MLP,
and a SwiGLU MLP; q/k/v and gate/up fused. Checkpoints load under transformers' names
(``layers.N.self_attn.q_proj``, ``mlp.gate_proj``) or the original remote-code ones
(``encoder.layers.N.attn.Wqkv``, ``mlp.fc11`` = up, ``mlp.fc12`` = gate, ``norm1``/``norm2``, ``emb_ln``)."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.configs.attention_geometry import head_dim_of
from multiscore.layers.attention import BatchAttention
from multiscore.layers.fused_ops import silu_mul
from multiscore.layers.linear import FusedLinear, Linear
from multiscore.layers.rotary import RotaryEmbedding
from multiscore.models.base import BackboneEmbedder, PooledClassifier, TokenClassifier
from multiscore.models.bert import BertPooler
from multiscore.models.decoder import DECODER_PACKED_MODULES
from multiscore.models.rotary_encoder import RotaryEncoderAttention, post_norm_residuals

# The original (remote-code) layout -> transformers' names, which ours follow.
ORIGINAL_NAMES = {
    "encoder.layers.": "layers.", "emb_ln.": "embeddings.LayerNorm.", "attn.Wqkv.": "self_attn.qkv_proj.",
    "attn.out_proj.": "self_attn.o_proj.", "mlp.fc11.": "mlp.up_proj.", "mlp.fc12.": "mlp.gate_proj.",
    "mlp.fc2.": "mlp.down_proj.", "norm1.": "post_attention_layernorm.", "norm2.": "post_mlp_layernorm.",
}

# The original code's config is GPT-2 style. transformers 5 reads such a config.json as its own
# NomicBertConfig, keeps these keys as unused extras and takes its defaults instead (hidden 768,
# 12 heads, rope base 1000), which happen to fit nomic-embed-text-v1.5 and fit nothing else: read them.
ORIGINAL_CONFIG_KEYS = {
    "n_embd": "hidden_size", "n_head": "num_attention_heads", "n_layer": "num_hidden_layers",
    "n_inner": "intermediate_size", "n_positions": "max_position_embeddings", "layer_norm_epsilon": "layer_norm_eps",
}
# The original code's options, each with the only value these layers compute (its default, and
# nomic-embed-text-v1/v1.5's): a checkpoint setting another is refused, never scored wrongly.
ORIGINAL_FIXED_OPTIONS = {
    "activation_function": "swiglu", "qkv_proj_bias": False, "mlp_fc1_bias": False, "mlp_fc2_bias": False,
    "prenorm": False, "use_rms_norm": False, "causal": False, "scale_attn_weights": True,
    "scale_attn_by_inverse_layer_idx": False, "rotary_emb_fraction": 1.0, "rotary_emb_interleaved": False,
    "rotary_scaling_factor": None, "moe_every_n_layers": 0,
}


def adapt_original_config(config) -> None:
    """A config.json in the original layout (it has ``n_embd``) -> transformers' attributes, in place."""
    if getattr(config, "n_embd", None) is None:
        return
    for key, served in ORIGINAL_FIXED_OPTIONS.items():
        value = getattr(config, key, served)
        if value != served:
            raise ValueError(f"NomicBERT config {key}={value!r} is not supported (only {served!r}: "
                             "nomic-embed-text-v1/v1.5's architecture)")
    for original, ours in ORIGINAL_CONFIG_KEYS.items():
        if getattr(config, original, None) is not None:
            setattr(config, ours, getattr(config, original))
    if getattr(config, "n_inner", None) is None:
        config.intermediate_size = 4 * config.hidden_size  # GPT-2's default width
    config.head_dim = config.hidden_size // config.num_attention_heads
    if getattr(config, "rotary_emb_base", None) is not None:
        config.rope_parameters = {"rope_type": "default", "rope_theta": float(config.rotary_emb_base)}


class NomicBertEmbeddings(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        """[T] each -> [T, H]."""
        return self.LayerNorm(self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids))


class NomicBertMLP(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        if config.hidden_act != "silu":
            raise ValueError(f"hidden_act {config.hidden_act!r} is not supported (NomicBERT's SwiGLU: silu)")
        inter = config.intermediate_size
        self.gate_up_proj = FusedLinear(config.hidden_size, {0: inter, 1: inter}, bias=False)
        self.down_proj = Linear(inter, config.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(silu_mul(self.gate_up_proj(x)))  # [T, 2I] -> [T, I] -> [T, H]


class NomicBertLayer(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.self_attn = RotaryEncoderAttention(config, bias=False)
        self.post_attention_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = NomicBertMLP(config)
        self.post_mlp_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor, cos, sin, attention: BatchAttention, keep_rows=None) -> torch.Tensor:
        out = self.self_attn(x, cos, sin, attention, keep_rows)
        return post_norm_residuals(x, out, keep_rows, self.post_attention_layernorm, self.mlp, self.post_mlp_layernorm)


class NomicBertBackbone(nn.Module):
    """``embeddings.*``, ``layers.N.*`` and, where the classifier reads it, ``pooler.dense``."""

    def __init__(self, config, add_pooler: bool) -> None:
        super().__init__()
        self.embeddings = NomicBertEmbeddings(config)
        self.layers = nn.ModuleList(NomicBertLayer(config) for _ in range(config.num_hidden_layers))
        self.rotary_emb = RotaryEmbedding(config, head_dim_of(config))
        self.pooler = BertPooler(config) if add_pooler else None

    def forward(self, batch, attention: BatchAttention, keep_rows: Optional[torch.Tensor]) -> torch.Tensor:
        """The packed batch -> final hidden states at ``keep_rows`` [R, H] ([T, H] for None)."""
        x = self.embeddings(batch.input_ids, batch.token_type_ids)
        cos, sin = self.rotary_emb.cos_sin(batch.positions, x.dtype)
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, attention, keep_rows if i == last else None)
        return x


class NomicBertModel(BackboneEmbedder):
    """The bare encoder as an embedding model (nomic-embed pools by mean in its sentence-transformers files)."""

    packed_modules_mapping = DECODER_PACKED_MODULES
    weight_prefix_aliases = {"nomic_bert.": "model.", "": "model."}
    weight_renames = ORIGINAL_NAMES

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        adapt_original_config(hf_config)

    def make_backbone(self, config) -> nn.Module:
        return NomicBertBackbone(config, add_pooler=False)


class NomicBertForSequenceClassification(PooledClassifier):
    """``nomic_bert.*`` (with its tanh pooler) + ``classifier`` on the first token."""

    packed_modules_mapping = DECODER_PACKED_MODULES
    weight_renames = ORIGINAL_NAMES
    backbone_name = "nomic_bert"

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        adapt_original_config(hf_config)

    @staticmethod
    def make_backbone(config):
        return NomicBertBackbone(config, add_pooler=True)


class NomicBertForTokenClassification(TokenClassifier):
    packed_modules_mapping = DECODER_PACKED_MODULES
    weight_renames = ORIGINAL_NAMES
    backbone_name = "nomic_bert"

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        adapt_original_config(hf_config)

    @staticmethod
    def make_backbone(config):
        return NomicBertBackbone(config, add_pooler=False)
