"""The model's config as both processes see it: HF config + overrides, resolved once at start-up."""

from __future__ import annotations

import glob
import logging
import os
import re
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Optional

from multiscore.configs.attention_geometry import context_length_of
from multiscore.configs.checkpoint_layouts import language_model_of, read_hf_config, text_architecture
from multiscore.configs.launch_overrides import (
    converted_architecture,
    read_chat_template,
    with_default_prompt,
    with_pooling_type,
)
from multiscore.configs.pooler_overrides import PoolerOverrides
from multiscore.configs.pooling_config import PoolingConfig, adopt_saved_activation, read_pooling_config, refuse_router
from multiscore.configs.seq_cls_conversion import HeadConversion, conversion_from_config
from multiscore.configs.static_embedding import staged_static_embedding
from multiscore.configs.model_kind import ModelKind, Task
from multiscore.models.registry import get_model_class
from multiscore.server_args import ServerArgs

logger = logging.getLogger(__name__)

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")


def resolve_model_path(model_path: str, revision: Optional[str] = None) -> str:
    """A local directory as is; a hub id ("org/name") downloaded (at ``revision``: a branch, tag or
    commit) where the machine has network."""
    if os.path.isdir(model_path):
        if revision is not None:
            logger.warning("--revision %s: %s is a local directory, served as it is", revision, model_path)
        return model_path
    if os.path.exists(model_path) or not _HUB_ID.match(model_path) or model_path.startswith((".", "/", "~")):
        raise ValueError(f"model path not found: {model_path!r} is not a checkpoint directory")
    try:
        from huggingface_hub import snapshot_download

        at = {} if revision is None else {"revision": revision}
        path = snapshot_download(model_path, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"],
                                 **at)
        if not glob.glob(os.path.join(path, "*.safetensors")):  # an older checkpoint: PyTorch weights only
            path = snapshot_download(model_path, allow_patterns=["*pytorch_model*.bin", "*pytorch_model.bin.index.json"],
                                     **at)
        return path
    except Exception as e:  # no network, unknown repo, gated repo ...
        raise ValueError(f"model path not found: {model_path!r} is not a local directory and could not be fetched ({e})") from None


def load_tokenizer(path: str, trust_remote_code: bool = False, lowercase: bool = False):
    """The checkpoint's tokenizer; ``lowercase``: it lowercases texts first (sentence-transformers'
    ``do_lower_case``), as sentence-transformers 6 arranges it: a Lowercase normalizer ahead of the
    tokenizer's own, so special tokens and token ids are untouched."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except Exception as e:
        raise ValueError(f"cannot load a tokenizer from {path!r}: {e}") from None
    if lowercase:
        _lowercase_first(tokenizer)
    return tokenizer


def _lowercase_first(tokenizer) -> None:
    from tokenizers.normalizers import Lowercase, Sequence

    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("do_lower_case needs a fast (Rust) tokenizer, and this checkpoint's is a slow one")
    backend = tokenizer.backend_tokenizer
    normalizer = backend.normalizer
    if normalizer is not None and normalizer.normalize_str("AÉ") == "aé":
        return  # it lowercases already (an uncased BERT's)
    backend.normalizer = Lowercase() if normalizer is None else Sequence([Lowercase(), normalizer])


def _late_interaction_kind(kind: ModelKind, pooling: Optional[PoolingConfig], architecture: str) -> ModelKind:
    """A bare encoder whose files describe ColBERT (pylate's) is served as one; a ColBERT class needs them."""
    colbert = pooling is not None and pooling.late_interaction is not None
    if colbert and kind is ModelKind.ENCODER_EMBEDDING:
        return ModelKind.ENCODER_LATE_INTERACTION
    if colbert and not kind.late_interaction:
        raise ValueError(f"the checkpoint's files describe a ColBERT model, which is served on an encoder "
                         f"(BertModel, ModernBertModel, XLMRobertaModel ...), not on {architecture}")
    if kind.late_interaction and not colbert:
        raise ValueError(f"{architecture} needs a ColBERT checkpoint: pylate's files (modules.json with a "
                         "pylate Dense layer) or Stanford's (HF_ColBERT with linear.weight)")
    return kind


def _lora_adapters(args: ServerArgs, model_class) -> tuple:
    """--lora-modules, their adapter_config.json checked here (a bad adapter stops the start, fast)."""
    from multiscore.model_executor.lora_adapters import read_adapter_config

    adapters = args.lora_adapters
    if adapters and model_class.adapter_suffixes:
        raise ValueError(f"{model_class.__name__} chooses its own task adapters per request; it takes no --lora-modules")
    for name, path in adapters:
        read_adapter_config(name, resolve_model_path(path))
    return tuple((name, resolve_model_path(path)) for name, path in adapters)


# Quantized checkpoint formats read here: dequantized as they load (model_executor/mxfp4.py, fp8.py,
# compressed_tensors.py, bitnet.py, bnb4bit.py).
_DEQUANTIZED_FORMATS = ("mxfp4", "fp8", "compressed-tensors", "bitnet", "bitsandbytes")


def checkpoint_quantization(hf_config) -> Optional[str]:
    """The checkpoint's ``quantization_config.quant_method`` (None: plain weights); ValueError for a
    format whose tensors would load as wrong numbers or not at all."""
    quant = getattr(hf_config, "quantization_config", None)
    if not quant:
        return None
    method = quant.get("quant_method") if isinstance(quant, dict) else getattr(quant, "quant_method", None)
    method = str(getattr(method, "value", method))  # transformers' QuantizationMethod is an enum
    if method not in _DEQUANTIZED_FORMATS:
        raise ValueError(f"the checkpoint is quantized ({method}), which is not supported: multiscore reads 16- and "
                         "32-bit weights, and dequantizes MXFP4 (GPT-OSS's experts), block-scaled FP8 (DeepSeek-V3's, "
                         "the Qwen3 -FP8 checkpoints'), compressed-tensors' 8-bit and packed (W4A16) schemes, bitsandbytes' 4-bit weights and BitNet's ternary weights as they "
                         "load; serve the "
                         "unquantized checkpoint")
    if method == "fp8":
        from multiscore.model_executor.fp8 import fp8_block

        fp8_block(quant)  # its format and block size, checked before any weight is read
    if method == "compressed-tensors":
        from multiscore.model_executor.compressed_tensors import activation_kind

        activation_kind(quant)  # a scheme read here, checked before any weight is read
    if method == "bitnet":
        from multiscore.model_executor.bitnet import read_mode

        read_mode(quant)
    if method == "bitsandbytes":
        from multiscore.model_executor.bnb4bit import check_scheme

        check_scheme(quant)
    return method


@dataclass(frozen=True)
class ModelConfig:
    path: str  # resolved local directory
    hf_config: object
    architecture: str
    kind: ModelKind  # what the architecture's model class computes (its ``kind``)
    tasks: frozenset[Task]  # what clients may ask of it, beyond /v1/score
    context_length: int
    tokenizer_path: str
    head_conversion: Optional[HeadConversion] = None  # LLM-as-reranker (seq_cls_conversion.py)
    pooling: Optional[PoolingConfig] = None  # embedding models (``*Model``) only
    pooler: PoolerOverrides = PoolerOverrides()  # vLLM's --pooler-config
    chat_template: Optional[str] = None  # --chat-template's text: the tokenizer's chat template is replaced by it
    # Checkpoint name prefix -> ours, applied to every tensor's name first (a multimodal checkpoint's
    # language model: checkpoint_layouts.py).
    checkpoint_prefixes: dict = field(default_factory=dict)
    # PEFT LoRA adapters chosen per request: ((name, path), ...), adapter i = PoolingParams.adapter i.
    lora_adapters: tuple = ()
    quantization: Optional[str] = None  # the checkpoint's format (checkpoint_quantization), dequantized at load

    @classmethod
    def from_server_args(cls, args: ServerArgs) -> "ModelConfig":
        path = staged_static_embedding(resolve_model_path(args.model_path, args.revision))
        refuse_router(path)
        if not os.path.exists(os.path.join(path, "config.json")):
            raise ValueError(f"model path {args.model_path!r} has no config.json")
        try:
            hf_config = read_hf_config(path, args.trust_remote_code)
        except Exception as e:
            raise ValueError(f"cannot read the config of {args.model_path!r}: {e}") from None
        hf_config, checkpoint_prefixes = language_model_of(hf_config)
        for key, value in args.model_overrides.items():
            setattr(hf_config, key, value)  # num_labels is a property that also rebuilds id2label
        tokenizer_path = args.tokenizer_path or path
        tokenizer = cache(lambda: load_tokenizer(tokenizer_path, args.trust_remote_code))
        conversion = conversion_from_config(hf_config, tokenizer, path)
        architectures = getattr(hf_config, "architectures", None) or []
        if not architectures:
            raise ValueError(f"config of {args.model_path!r} names no architecture")
        architecture = text_architecture(architectures[0])
        convert = args.convert
        if convert == "auto" and args.runner == "pooling" and architecture.endswith("ForCausalLM"):
            convert = "embed"  # vLLM's --runner pooling: a generative checkpoint served as an embedding model
        architecture = converted_architecture(architecture, convert, conversion)
        hf_config.architectures = [architecture]
        model_class = get_model_class(architecture)
        model_class.adapt_config(hf_config)
        model_class.adapt_to_tokenizer(hf_config, tokenizer)
        kind = model_class.kind_for(hf_config)
        listwise = kind is ModelKind.LISTWISE_RERANKER
        if args.mis_enabled and (kind.bidirectional or kind.embeds or kind.classifies_tokens or listwise):
            raise ValueError(
                f"--multi-item-scoring-delimiter does not apply to {architecture}: "
                + ("its attention is bidirectional, so the query would see every item" if kind.bidirectional
                   else "a token classifier scores tokens, not items" if kind.classifies_tokens
                   else "a listwise reranker reads its documents together in its own prompt, by design" if listwise
                   else "an embedding model embeds each text on its own")
            )
        adopt_saved_activation(path, hf_config)  # a sentence-transformers 6 CrossEncoder's
        pooling = (read_pooling_config(path, kind.bidirectional, model_class.default_pooling(hf_config))
                   if kind.embeds or kind.late_interaction else None)
        kind = _late_interaction_kind(kind, pooling, architecture)
        overrides = args.pooler_overrides
        config = cls(
            path=path, hf_config=hf_config, architecture=architecture, kind=kind,
            tasks=model_class.tasks_for(kind, hf_config),
            context_length=context_length_of(hf_config, pooling, args.context_length, args.attention_backend),
            tokenizer_path=tokenizer_path, head_conversion=conversion,
            pooling=with_default_prompt(with_pooling_type(pooling, kind, hf_config, overrides.pooling_type), args),
            pooler=overrides,
            chat_template=read_chat_template(args.chat_template), checkpoint_prefixes=checkpoint_prefixes,
            lora_adapters=_lora_adapters(args, model_class), quantization=checkpoint_quantization(hf_config),
        )
        config.check_pooler_overrides()
        return config

    def check_pooler_overrides(self) -> None:
        """--pooler-config's settings that must fit the model (its pooling type is checked as it is applied)."""
        overrides = self.pooler
        if overrides.dimensions is not None:
            if Task.EMBED not in self.tasks and Task.TOKEN_EMBED not in self.tasks:
                raise ValueError(f"--pooler-config dimensions: {self.architecture} gives no embeddings")
            self.check_dimensions(overrides.dimensions)
        if overrides.calibrates and Task.CLASSIFY not in self.tasks and Task.TOKEN_CLASSIFY not in self.tasks:
            raise ValueError(f"--pooler-config logit_mean / logit_sigma calibrate a classifier's logits; "
                             f"{self.architecture} is not a classifier")
        if overrides.chunked and (Task.EMBED not in self.tasks or self.kind.sparse):
            raise ValueError(f"--pooler-config enable_chunked_processing averages the embeddings of an input's chunks; "
                             f"{self.architecture} gives no dense embedding")
        if overrides.max_embed_len is not None and overrides.max_embed_len <= self.context_length:
            raise ValueError(f"--pooler-config max_embed_len {overrides.max_embed_len} must exceed the context length "
                             f"({self.context_length}): shorter inputs are never split")
        if overrides.task is not None and overrides.task not in self.pooling_tasks:
            raise ValueError(f"--pooler-config task {overrides.task!r}: this model ({self.architecture}) supports "
                             f"{', '.join(self.pooling_tasks)}")

    @property
    def pooling_tasks(self) -> list[str]:
        """What vLLM's /pooling may ask of the model ("score" only where it classifies)."""
        return sorted(t.value for t in self.tasks if t is not Task.SCORE or Task.CLASSIFY in self.tasks)

    @property
    def default_score_template(self) -> Optional[str]:
        """The built-in score template the model's pairs are formatted with unless another is given."""
        return getattr(get_model_class(self.architecture), "score_template", None)

    @property
    def default_pooling_task(self) -> Optional[str]:
        """The model's own /pooling default where vLLM gives it one (a reward model's: token_classify);
        None: its kind's."""
        return getattr(get_model_class(self.architecture), "default_pooling_task", None)

    def check_dimensions(self, dimensions: int) -> None:
        allowed = self.matryoshka_dimensions
        hidden = self.embedding_size
        if allowed is None:
            raise ValueError("this model does not support 'dimensions' (it is not a Matryoshka model); its embeddings "
                             f"have {hidden}")
        if dimensions < 1 or dimensions > hidden or (allowed and dimensions not in allowed):
            choices = ", ".join(map(str, allowed)) if allowed else f"1 to {hidden}"
            raise ValueError(f"'dimensions' must be one of {choices}, got {dimensions}")

    @property
    def max_model_len(self) -> int:
        """vLLM's name for the context length (its LLM's ``model_config.max_model_len``)."""
        return self.context_length

    @property
    def lowercase(self) -> bool:
        """sentence_bert_config.json's ``do_lower_case``: texts are lowercased before tokenizing."""
        return self.pooling is not None and self.pooling.do_lower_case

    def load_tokenizer(self, trust_remote_code: bool = False):
        tokenizer = load_tokenizer(self.tokenizer_path, trust_remote_code, lowercase=self.lowercase)
        if self.chat_template is not None:
            tokenizer.chat_template = self.chat_template
        return tokenizer

    @property
    def embedding_size(self) -> int:
        """An embedding's length: the last sentence-transformers Dense layer's, else the hidden size
        (OPT's ``word_embed_proj_dim``, which its body projects out to)."""
        if self.pooling is not None and self.pooling.dense:
            return self.pooling.dense[-1].out_features
        own = getattr(get_model_class(self.architecture), "embedding_width", None)  # a projection in the model (Voyage's)
        if own is not None:
            return own(self.hf_config)
        return getattr(self.hf_config, "word_embed_proj_dim", None) or self.hf_config.hidden_size

    @property
    def matryoshka_dimensions(self) -> Optional[list[int]]:
        """The ``dimensions`` an embedding may be cut to: None = not a Matryoshka model; [] = any."""
        dims = getattr(self.hf_config, "matryoshka_dimensions", None)
        if dims:
            return list(dims)
        return [] if getattr(self.hf_config, "is_matryoshka", False) else None

    @property
    def task_names(self) -> list[str]:
        """The tasks a request may name (jina-embeddings-v3's LoRA tasks); [] for most models."""
        return get_model_class(self.architecture).task_names(self.hf_config)

    def task_adapter(self, task: str) -> tuple[Optional[int], str]:
        """Jina's ``task`` -> (the task adapter to run with, None: the weights as loaded; the instruction
        put before each text), as the model class says (PoolingModel.task_adapter); ValueError if none."""
        return get_model_class(self.architecture).task_adapter(self.hf_config, task)

    @property
    def lexical_weights(self) -> bool:
        """Its token_classify output is a weight per token (BGE-M3): TEI's /embed_sparse reduces it per token id."""
        return bool(getattr(get_model_class(self.architecture), "lexical_weights", False))

    @property
    def vocab_size(self) -> int:
        return self.hf_config.vocab_size

    @property
    def label_vocab_size(self) -> int:
        """The LM head's rows: the token ids a causal LM's score can read (Apertus 1.5's head keeps fewer than its
        vocabulary, ``output_vocab_size``)."""
        return getattr(self.hf_config, "output_vocab_size", None) or self.hf_config.vocab_size

    @property
    def num_labels(self) -> int:
        return self.hf_config.num_labels

    @property
    def is_original_qwen3_reranker(self) -> bool:
        return bool(getattr(self.hf_config, "is_original_qwen3_reranker", False))

    def label_name(self, index: int) -> Optional[str]:
        id2label = getattr(self.hf_config, "id2label", None) or {}
        return id2label.get(index, id2label.get(str(index)))

    @cached_property
    def checkpoint_dtype(self):
        import torch

        dtype = getattr(self.hf_config, "dtype", None) or getattr(self.hf_config, "torch_dtype", None) or "float32"
        return getattr(torch, dtype) if isinstance(dtype, str) else dtype
