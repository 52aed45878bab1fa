"""Jina embeddings v3 as transformers ships it (model_type ``jina_embeddings_v3``, jinaai/jina-embeddings-v3-hf):
``JinaEmbeddingsV3Model``, ``JinaEmbeddingsV3ForSequenceClassification``, ``JinaEmbeddingsV3ForTokenClassification``.

XLM-RoBERTa's post-norm encoder with rotary (rotate-half, base 20,000) instead of position
embeddings: word and token-type embeddings, LayerNorm; per layer bidirectional attention with biased
``self_attn.{q,k,v,o}_proj``, ``post_attention_layernorm(x + attn)``, ``mlp.fc2(act(mlp.fc1(x)))``,
``post_mlp_layernorm(x + mlp)``. The heads are XLM-R's (``classifier.dense`` -> tanh -> ``out_proj`` on
``<s>``; a token classifier on every row). The embedding model mean-pools unless sentence-transformers
files say otherwise (the model card's pooling).

transformers' classes carry no task LoRA adapters: the base weights are what they compute, and so do these.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.configs.attention_geometry import head_dim_of
from multiscore.layers.attention import BatchAttention
from multiscore.layers.linear import EAGER_ACTIVATIONS, Linear, hf_activation
from multiscore.layers.pooler import PoolingMethod
from multiscore.layers.rotary import RotaryEmbedding
from multiscore.layers.task_adapters import AdapterRows, LinearTaskAdapters, TaskAdaptedEmbedding
from multiscore.models.base import BackboneEmbedder, TokenClassifier
from multiscore.models.gte import GteEmbeddings
from multiscore.models.rotary_encoder import RotaryEncoderAttention, post_norm_residuals
from multiscore.models.xlm_roberta import XLMRobertaForSequenceClassification

# transformers saves (and reads) the original code's tensor names: q, k, v fused in ``mixer.Wqkv``.
ORIGINAL_NAMES = {
    "emb_ln.": "embeddings.LayerNorm.", "encoder.layers.": "layers.", "mixer.Wqkv.": "self_attn.qkv_proj.",
    "mixer.out_proj.": "self_attn.o_proj.", "norm1.": "post_attention_layernorm.", "norm2.": "post_mlp_layernorm.",
}
# transformers' own module names, should a checkpoint carry them.
PACKED_MODULES = {"q_proj": ("qkv_proj", "q"), "k_proj": ("qkv_proj", "k"), "v_proj": ("qkv_proj", "v")}


class JinaV3MLP(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.fc1 = Linear(config.hidden_size, config.intermediate_size, bias=True)
        self.fc2 = Linear(config.intermediate_size, config.hidden_size, bias=True)
        self.act = EAGER_ACTIVATIONS[hf_activation(config.hidden_act)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))  # [T, H]


class JinaV3Layer(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.self_attn = RotaryEncoderAttention(config, bias=True)
        self.post_attention_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = JinaV3MLP(config)
        self.post_mlp_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor, cos, sin, attention: BatchAttention, keep_rows=None) -> torch.Tensor:
        out = self.self_attn(x, cos, sin, attention, keep_rows)
        return post_norm_residuals(x, out, keep_rows, self.post_attention_layernorm, self.mlp, self.post_mlp_layernorm)


class JinaV3Backbone(nn.Module):
    """``embeddings.*`` and ``layers.N.*`` (saved as ``emb_ln``, ``encoder.layers.N.mixer.Wqkv``, ...:
    ORIGINAL_NAMES); a bare checkpoint's ``pooler.*`` goes unused."""

    def __init__(self, config) -> None:
        super().__init__()
        self.embeddings = GteEmbeddings(config)
        self.layers = nn.ModuleList(JinaV3Layer(config) for _ in range(config.num_hidden_layers))
        self.rotary_emb = RotaryEmbedding(config, head_dim_of(config))

    def forward(self, batch, attention: BatchAttention, keep_rows: Optional[torch.Tensor]) -> torch.Tensor:
        """The packed batch -> final hidden states at ``keep_rows`` [R, H] ([T, H] for None)."""
        x = self.embeddings(batch.input_ids, batch.token_type_ids)  # [T, H]
        cos, sin = self.rotary_emb.cos_sin(batch.positions, x.dtype)  # positions from 0, as transformers counts
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, attention, keep_rows if i == last else None)
        return x


class JinaEmbeddingsV3Model(BackboneEmbedder):
    """The bare encoder as an embedding model (mean-pooled, normalised, without sentence-transformers files)."""

    packed_modules_mapping = PACKED_MODULES
    weight_renames = ORIGINAL_NAMES
    weight_prefix_aliases = {"roberta.": "model.", "": "model."}
    default_method = PoolingMethod.MEAN

    def make_backbone(self, config) -> nn.Module:
        return JinaV3Backbone(config)


class JinaEmbeddingsV3ForSequenceClassification(XLMRobertaForSequenceClassification):
    """``roberta.*`` + XLM-R's ``classifier.{dense,out_proj}`` on ``<s>``."""

    packed_modules_mapping = PACKED_MODULES
    weight_renames = ORIGINAL_NAMES

    @staticmethod
    def make_backbone(config):
        return JinaV3Backbone(config)


class JinaEmbeddingsV3ForTokenClassification(TokenClassifier):
    packed_modules_mapping = PACKED_MODULES
    weight_renames = ORIGINAL_NAMES
    backbone_name = "roberta"

    @staticmethod
    def make_backbone(config):
        return JinaV3Backbone(config)


class XLMRobertaLoRA(JinaEmbeddingsV3Model):
    """jinaai/jina-embeddings-v3 as published: the remote code's ``XLMRobertaLoRA`` (model_type
    ``xlm-roberta`` with ``position_embedding_type: rotary``), read without it. The same encoder
    under ``roberta.``, each Linear and Embedding weight saved as ``X.parametrizations.weight.original``
    beside its task adapters ``...weight.0.lora_A`` / ``lora_B`` (one per ``lora_adaptations`` task,
    rank ``lora_rank``, scaled by ``lora_alpha / lora_rank``).

    As the original ``encode(texts, task=...)``: a request's ``task`` puts that task's instruction
    (``task_instructions``) before its texts and runs its sequences with the task's adapter, chosen per
    sequence over one copy of the weights (layers/task_adapters.py); without a task, the base weights
    (what transformers' jina-embeddings-v3-hf computes). ``lora_task`` (``--json-model-override-args
    '{"lora_task": "retrieval.query"}'``) instead merges one task's adapter into the weights at load,
    for a server of that task alone: W + s·B·A for a Linear ([out, r] · [r, in]), W + s·A·B for an
    Embedding ([vocab, r] · [r, H]); its requests name that task or none (the instruction is then the
    client's to add).
    """

    weight_renames = {".parametrizations.weight.original": ".weight", **ORIGINAL_NAMES}
    adapter_suffixes = {".parametrizations.weight.0.lora_A": "lora_A", ".parametrizations.weight.0.lora_B": "lora_B"}

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        """The remote code's rotary keys as transformers' ``rope_parameters``; the task checked."""
        if getattr(hf_config, "position_embedding_type", "rotary") != "rotary":
            raise ValueError(f"XLMRobertaLoRA with position_embedding_type={hf_config.position_embedding_type!r} "
                             "is not supported (only 'rotary', jina-embeddings-v3's)")
        if getattr(hf_config, "rotary_emb_interleaved", False):
            raise ValueError("XLMRobertaLoRA with rotary_emb_interleaved=true is not supported (only rotate-half)")
        hf_config.rope_parameters = {"rope_type": "default", "rope_theta": float(getattr(hf_config, "rotary_emb_base", 10000.0))}
        task, tasks = getattr(hf_config, "lora_task", None), list(getattr(hf_config, "lora_adaptations", None) or [])
        if task is not None and task not in tasks:
            raise ValueError(f"lora_task {task!r} is not one of this checkpoint's lora_adaptations: {tasks}")

    @classmethod
    def task_names(cls, hf_config) -> list[str]:
        merged = getattr(hf_config, "lora_task", None)
        return [merged] if merged is not None else list(getattr(hf_config, "lora_adaptations", None) or [])

    @classmethod
    def task_adapter(cls, hf_config, task: str) -> tuple[Optional[int], str]:
        tasks = list(getattr(hf_config, "lora_adaptations", None) or [])
        if task not in tasks:  # the original code's wording
            raise ValueError(f"Unsupported task {task!r}. Supported tasks are: {', '.join(tasks)}. Alternatively, "
                             "don't pass 'task' to use the base weights")
        merged = getattr(hf_config, "lora_task", None)
        if merged is not None and task != merged:
            raise ValueError(f"task {task!r}: this server merged the {merged!r} adapter into its weights at load "
                             "(lora_task); start it without lora_task to choose the task per request")
        instruction = (getattr(hf_config, "task_instructions", None) or {}).get(task, "")
        return (None if merged is not None else tasks.index(task)), instruction

    def take_adapters(self, adapters: dict[str, dict[str, torch.Tensor]]) -> None:
        """Merged into the weights (``lora_task``), else kept per task for the requests to choose."""
        scaling = float(self.config.lora_alpha) / float(self.config.lora_rank)
        task = getattr(self.config, "lora_task", None)
        index = None if task is None else list(self.config.lora_adaptations).index(task)
        rows = AdapterRows()
        for name, pair in adapters.items():
            if set(pair) != {"lora_A", "lora_B"}:
                raise ValueError(f"checkpoint has {sorted(pair)} of {name}'s adapter, not both lora_A and lora_B")
            weight = self.get_parameter(name)
            owner_name = name.rpartition(".")[0]
            owner = self.get_submodule(owner_name)
            a, b = (pair[k].to(device=weight.device, dtype=torch.float32) for k in ("lora_A", "lora_B"))
            is_embedding = isinstance(owner, nn.Embedding)
            if not is_embedding and not isinstance(owner, Linear):
                raise ValueError(f"an adapter of {name} ({type(owner).__name__}) is not supported")
            if index is not None:
                delta = (a[index] @ b[index]) if is_embedding else (b[index] @ a[index])  # [vocab, H] / [out, in]
                weight.data.add_((scaling * delta).to(weight.dtype))
                continue
            a, b = a.to(weight.dtype), (scaling * b).to(weight.dtype)
            if is_embedding:  # A [N, vocab, r], B [N, r, H]
                parent, _, child = owner_name.rpartition(".")
                setattr(self.get_submodule(parent), child, TaskAdaptedEmbedding(owner, a, b, rows))
            else:  # A [N, r, in], B [N, out, r]
                owner.task_adapters = LinearTaskAdapters(a, b, rows)
        if index is None and adapters:
            self.adapter_rows = rows
