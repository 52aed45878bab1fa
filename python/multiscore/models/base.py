"""The one model protocol: every model, decoder or encoder, is called the same way by the worker.

    outputs = model(batch, attention)  # one float32 [num_items, C] per sequence of the batch

A model class declares what it computes (``kind``) and how checkpoints fill it
(``packed_modules_mapping``, ``weight_prefix_aliases``: see model_executor/weight_loader.py), owns
a ``pooler`` (which hidden rows to read, and the head that turns them into outputs), and implements
``hidden_states``. Its parameter names follow Hugging Face so checkpoints load by name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable
from typing import TYPE_CHECKING, Callable, Optional

import torch
from torch import nn

from multiscore.configs.model_kind import ModelKind, Task
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.attention import BatchAttention
from multiscore.layers.pooler import ClassifierHead, EmbeddingHead, Pooler, PoolingMethod
from multiscore.layers.task_adapters import AdapterRows

if TYPE_CHECKING:
    from multiscore.model_executor.forward_batch import ForwardBatch


class PoolingModel(nn.Module):
    kind: ModelKind
    # Checkpoint module name -> (our fused layer, shard id): e.g. "q_proj" -> ("qkv_proj", "q").
    packed_modules_mapping: dict[str, tuple[str, Hashable]] = {}
    # Checkpoint name prefix -> ours, tried when a tensor's name is not one of ours: a bare
    # checkpoint's "layers.0..." is our "model.layers.0...".
    weight_prefix_aliases: dict[str, str] = {}
    # Checkpoint name part -> ours, for a layout published under other module names (NomicBERT's
    # original ``encoder.layers.N.attn.Wqkv``): replaced wherever it occurs, before the aliases.
    weight_renames: dict[str, str] = {}
    # Weights kept beside the checkpoint in their own PyTorch files (BGE-M3's sparse_linear.pt):
    # file name -> the prefix its tensors' names take here.
    extra_weight_files: dict[str, str] = {}
    # Checkpoint name ending -> role, for low-rank adapters published beside a weight (jina-embeddings-v3's
    # ``X.parametrizations.weight.0.lora_A``): collected per weight and given to ``take_adapters``.
    adapter_suffixes: dict[str, str] = {}
    # Set by each subclass's __init__ (a plain attribute: the pooler holds no parameters of its own).
    pooler: Pooler
    # Adapters chosen per sequence (layers/task_adapters.py): jina-embeddings-v3's tasks, PEFT LoRA
    # adapters (model_executor/lora_adapters.py); None: the model has none.
    adapter_rows: Optional[AdapterRows] = None
    # LoRA adapters' own classifier heads (PEFT's modules_to_save): adapter -> head parameter -> tensor.
    head_overrides: dict = {}

    def forward(self, batch: "ForwardBatch", attention: BatchAttention) -> list[torch.Tensor]:
        rows = self.pooler.rows(batch.pooling)
        if not batch.adapter_groups:
            return self.pooler(self.hidden_states(batch, attention, rows), batch.pooling)  # [R, H] read
        if self.adapter_rows is None:
            raise ValueError(f"{type(self).__name__} has no adapters to run a sequence with")
        self.adapter_rows.groups, self.adapter_rows.num_rows = batch.adapter_groups, batch.input_ids.shape[0]
        try:  # every row through every layer: the groups' rows index the whole batch
            hidden = self.hidden_states(batch, attention, None)  # [T, H]
        finally:
            self.adapter_rows.groups = ()
        read = hidden if rows is None else hidden.index_select(0, rows)
        outputs = list(self.pooler(read, batch.pooling))
        for adapter, params in self.head_overrides.items():  # an adapter's own head, for its sequences
            mine = [i for i, g in enumerate(batch.pooling.groups) if g.params.adapter == adapter]
            if mine:
                with swapped_parameters(self, params):
                    theirs = self.pooler(read, batch.pooling)
                for i in mine:
                    outputs[i] = theirs[i]
        return outputs

    def hidden_states(self, batch: "ForwardBatch", attention: BatchAttention, rows: Optional[torch.Tensor]) -> torch.Tensor:
        """Final hidden states at ``rows`` [R] of the packed batch ([T, H] when ``rows`` is None)."""
        raise NotImplementedError

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        """Read a config written for another implementation (say, the original remote code) into the
        attributes this class uses, or refuse what it does not compute (ValueError). In place."""

    @classmethod
    def adapt_to_tokenizer(cls, hf_config, tokenizer: Callable[[], object]) -> None:
        """Read what the model needs of its tokenizer (``tokenizer()`` loads it) into ``hf_config``, or
        refuse a tokenizer it cannot work with (ValueError). In place, after ``adapt_config``."""

    @classmethod
    def default_pooling(cls, hf_config) -> Optional[str]:
        """An embedding model's pooling ("cls", "mean", "last") when no sentence-transformers files say;
        None: its kind's (an encoder's first token, a decoder's last)."""
        return None

    @classmethod
    def kind_for(cls, hf_config) -> ModelKind:
        """What this class computes for ``hf_config``: ``kind``, unless the config changes it
        (a Gemma3TextModel with bidirectional attention is an encoder)."""
        return cls.kind

    @classmethod
    def tasks_for(cls, kind: ModelKind, hf_config) -> frozenset[Task]:
        """What clients may ask of this model: its kind's tasks, unless the class has more heads."""
        return kind.tasks(hf_config.num_labels)

    def take_adapters(self, adapters: dict[str, dict[str, torch.Tensor]]) -> None:
        """Once every weight is loaded: our weight name -> {role: tensor} of ``adapter_suffixes``."""

    @classmethod
    def task_names(cls, hf_config) -> list[str]:
        """The tasks a request may name (``task_adapter``); none unless the model has task adapters."""
        return []

    @classmethod
    def task_adapter(cls, hf_config, task: str) -> tuple[Optional[int], str]:
        """A request's ``task`` (Jina's embeddings API) -> (the adapter its sequences run with, None for
        the weights as loaded; the instruction put before its texts). ValueError when there is none."""
        raise ValueError(f"task {task!r}: this model ({hf_config.architectures[0]}) has no task adapters "
                         "(jina-embeddings-v3's LoRA tasks are what 'task' chooses)")

    def tie_weights(self) -> None:
        """Share the tensors the config ties; the loader calls it once, after materialising the weights."""


@contextlib.contextmanager
def swapped_parameters(model: nn.Module, params: dict[str, torch.Tensor]):
    """``model``'s parameters named in ``params`` replaced by those tensors, for the block's length."""
    saved = {}
    for name, tensor in params.items():
        owner, _, leaf = name.rpartition(".")
        module = model.get_submodule(owner)
        saved[name] = getattr(module, leaf)
        setattr(module, leaf, nn.Parameter(tensor, requires_grad=False))
    try:
        yield
    finally:
        for name, old in saved.items():
            owner, _, leaf = name.rpartition(".")
            setattr(model.get_submodule(owner), leaf, old)


def embedding_pooler(pooling: Optional[PoolingConfig], default: PoolingMethod):
    """An embedding model's pooler, from its sentence-transformers config (normalised ``default`` without
    one); a ColBERT checkpoint's (pylate's files) is a LateInteractionPooler."""
    if pooling is None:
        return Pooler(default, EmbeddingHead(normalize=True))
    if pooling.late_interaction is not None:  # pylate's ColBERT: its Dense layers project every token
        from multiscore.layers.late_interaction_pooler import LateInteractionPooler

        head = EmbeddingHead(normalize=False, dense=pooling.dense)
        return LateInteractionPooler(head.project, head)
    if pooling.mode == "splade":
        raise ValueError("modules.json names SpladePooling, which needs the masked-LM head: serve the checkpoint as "
                         '--json-model-override-args \'{"architectures": ["BertForMaskedLM"]}\'')
    return Pooler(PoolingMethod(pooling.mode), EmbeddingHead(normalize=pooling.normalize, dense=pooling.dense))


class BackboneEmbedder(PoolingModel):
    """An encoder's backbone (``make_backbone``, our ``model.*``) as an embedding model, pooled as its
    sentence-transformers files say, else by ``default_method`` over its final states, normalised."""

    kind = ModelKind.ENCODER_EMBEDDING
    default_method = PoolingMethod.CLS

    @classmethod
    def default_pooling(cls, hf_config) -> Optional[str]:
        return cls.default_method.value

    def make_backbone(self, config) -> nn.Module:
        raise NotImplementedError

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__()
        self.config = config
        self.model = self.make_backbone(config)
        self.pooler = embedding_pooler(pooling, self.default_method)

    def hidden_states(self, batch, attention, rows):
        return self.model(batch, attention, rows)


class BackboneClassifier(PoolingModel):
    """An encoder's backbone (under the checkpoint's name for it, ``backbone_name``) and ``classifier``
    [num_labels, H], read through ``classify``; the two heads below."""

    backbone_name: str  # "bert", "roberta", ...: the prefix of the backbone's tensors in the checkpoint

    @staticmethod
    def make_backbone(config) -> nn.Module:
        raise NotImplementedError

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__()
        self.config = config
        setattr(self, self.backbone_name, self.make_backbone(config))
        hidden = getattr(config, "hidden_size", None) or config.dim  # DistilBERT names it dim
        self.classifier = nn.Linear(hidden, config.num_labels)
        self.pooler = Pooler(PoolingMethod.CLS, ClassifierHead(self.classify, config))  # token requests: every row

    def classify(self, hidden: torch.Tensor) -> torch.Tensor:
        """[N, H] -> logits [N, num_labels]."""
        return self.classifier(hidden)

    def hidden_states(self, batch, attention, rows):
        return getattr(self, self.backbone_name)(batch, attention, rows)


class PooledClassifier(BackboneClassifier):
    """BERT's ``*ForSequenceClassification`` shape: the backbone has BERT's tanh pooler, and the
    logits are classifier(pooler(first token)). ``make_backbone`` builds it with its pooler."""

    kind = ModelKind.ENCODER_CLASSIFIER

    def classify(self, first_token_hidden: torch.Tensor) -> torch.Tensor:
        """[B, H] final hidden state of each sequence's first token -> logits [B, num_labels]."""
        return self.classifier(getattr(self, self.backbone_name).pooler(first_token_hidden))


class TokenClassifier(BackboneClassifier):
    """transformers' ``*ForTokenClassification`` of an encoder: ``classifier`` on every token, for NER,
    PII and part-of-speech taggers. Its requests are token tasks, so the pooler reads every row."""

    kind = ModelKind.ENCODER_TOKEN_CLASSIFIER
