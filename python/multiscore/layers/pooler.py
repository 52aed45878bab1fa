"""The pooler every model owns: which hidden rows it reads (a ``PoolingMethod``) and what its head
makes of them, with each request's activation applied here and nowhere else.

The model runs its last layer on the rows the method names only (R of the batch's T rows), so a
CausalLM's full-vocabulary log-softmax is an [R, V] computation, never [T, V].
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import torch
import torch.nn.functional as F

from multiscore.layers.score_activation import score_activation
from multiscore.model_executor.checkpoint_files import iter_checkpoint
from multiscore.messages import PoolingParams

# Rows per LM-head chunk: bounds the [rows, V] float32 logits buffer (~75 MB at V = 152k).
_LM_HEAD_ROWS = 128


@dataclass
class ReadoutGroup:
    """Outputs [start, end) of one sequence (its items), and how its request wants them made."""

    start: int
    end: int
    params: PoolingParams


@dataclass
class PoolingMetadata:
    """What a pooler needs to know about a packed batch (built once per batch by ForwardBatch)."""

    seq_lens: list[int]
    seq_starts: torch.Tensor  # [B] first flat row of each sequence
    item_last_rows: torch.Tensor  # [N] each item's read-out row: a plain sequence's last token, each MIS item's last
    groups: list[ReadoutGroup]  # one per sequence, over the pooled outputs
    per_token: bool = False  # token tasks: every row is an output (the batch is all one or the other)
    input_ids: Optional[torch.Tensor] = None  # [T] the batch's tokens (late interaction's skiplist reads them)


class PoolingMethod(enum.Enum):
    """Which rows become one output each (vLLM's PoolingType)."""

    CLS = "cls"  # each sequence's first token
    LAST = "last"  # each item's read-out row (DESIGN.md §3, §4)
    MEAN = "mean"  # the mean of each sequence's tokens

    def rows(self, meta: PoolingMetadata) -> Optional[torch.Tensor]:
        """Flat rows [R] the model must compute in its last layer; None: every row."""
        if self is PoolingMethod.CLS:
            return meta.seq_starts
        if self is PoolingMethod.LAST:
            return meta.item_last_rows
        return None

    def reduce(self, hidden: torch.Tensor, meta: PoolingMetadata) -> torch.Tensor:
        """hidden [R, H] (the rows ``rows`` named) -> [N, H], one row per output."""
        if self is not PoolingMethod.MEAN:
            return hidden
        hidden = hidden.float()  # average in float32 whatever the model's dtype
        lens = torch.tensor(meta.seq_lens, dtype=torch.long, device=hidden.device)
        segment = torch.repeat_interleave(torch.arange(len(meta.seq_lens), device=hidden.device), lens)  # [T]
        sums = hidden.new_zeros(len(meta.seq_lens), hidden.shape[1]).index_add_(0, segment, hidden)  # [B, H]
        return sums / lens.unsqueeze(1).to(hidden.dtype)


def config_activation(hf_config) -> str:
    """A classifier's own activation, vLLM's rule from ``problem_type``: single-label -> softmax
    (sigmoid with one label), multi-label -> sigmoid, regression -> none."""
    problem = getattr(hf_config, "problem_type", None)
    if problem == "regression":
        return "none"
    if problem == "multi_label_classification" or hf_config.num_labels == 1:
        return "sigmoid"
    return "softmax"


def activate(x: torch.Tensor, activation: str) -> torch.Tensor:
    """x [N, C] -> [N, C]; ``activation`` is none, softmax (over C) or sigmoid."""
    if activation == "softmax":
        return torch.softmax(x, -1)
    if activation == "sigmoid":
        return torch.sigmoid(x)
    if activation != "none":
        raise ValueError(f"unknown activation {activation!r}")
    return x


def sequence_rows(meta: PoolingMetadata) -> Iterator[tuple[ReadoutGroup, slice]]:
    """Poolers over every row of plain sequences (encoders: one group per sequence): each sequence's
    group and its rows' slice of the batch."""
    start = 0
    for group, length in zip(meta.groups, meta.seq_lens):
        yield group, slice(start, start + length)
        start += length


def _split(x: torch.Tensor, groups: list[ReadoutGroup]) -> list[torch.Tensor]:
    return [x[g.start : g.end] for g in groups]


class ClassifierHead:
    """Class scores: ``classifier(pooled)`` [N, C] in float32, then each request's activation."""

    def __init__(self, classifier: Callable[[torch.Tensor], torch.Tensor], hf_config) -> None:
        self.classifier = classifier
        self.default_activation = config_activation(hf_config)
        # "score" (vLLM's relevance scores): the sentence-transformers cross-encoder activation.
        self.score_kind, self.score_module = score_activation(hf_config, self.default_activation)
        self.logit_mean: Optional[float] = None  # vLLM's --pooler-config calibration: (logit - mean) / sigma
        self.logit_sigma: Optional[float] = None

    def __call__(self, pooled: torch.Tensor, groups: list[ReadoutGroup]) -> list[torch.Tensor]:
        logits = self.classifier(pooled).float()  # [N, C]
        if self.logit_mean is not None:  # before any activation, whatever the request asks (as vLLM)
            logits = logits - self.logit_mean
        if self.logit_sigma is not None:
            logits = logits / self.logit_sigma
        kinds = [self._kind(g.params.activation) for g in groups]
        if len(set(kinds)) == 1:  # the usual batch: one activation for every row, one call
            return _split(self._activate(logits, kinds[0]), groups)
        return [self._activate(logits[g.start : g.end], kind) for g, kind in zip(groups, kinds)]

    def _kind(self, activation: str) -> str:
        if activation == "default":
            return self.default_activation
        return self.score_kind if activation == "score" else activation

    def _activate(self, logits: torch.Tensor, kind: str) -> torch.Tensor:
        if kind == "module":  # a configured torch.nn activation (e.g. Tanh)
            return self.score_module(logits).float()
        return activate(logits, kind)


def calibrate_classifier(model: torch.nn.Module, logit_mean: Optional[float], logit_sigma: Optional[float]) -> None:
    """--pooler-config's ``logit_mean`` / ``logit_sigma`` onto the model's classifier head."""
    head = getattr(getattr(model, "pooler", None), "head", None)
    if not isinstance(head, ClassifierHead):
        raise ValueError(f"--pooler-config logit_mean / logit_sigma: {type(model).__name__} has no classifier head")
    head.logit_mean, head.logit_sigma = logit_mean, logit_sigma


class LabelProbabilityHead:
    """A CausalLM's next-token probabilities of each request's label tokens (SGLang's /v1/score).

    activation ``none``: full-vocabulary probabilities ``exp(log_softmax(logits))[labels]``;
    ``softmax``: a softmax over the label logits only (each row sums to 1).
    """

    def __init__(self, lm_head: torch.nn.Linear, logit_softcap: Optional[float] = None,
                 logit_divisor: Optional[float] = None) -> None:
        self.lm_head = lm_head  # read at call time: the loader may tie its weight to the embedding
        self.logit_softcap = logit_softcap  # Gemma2: logits -> cap · tanh(logits / cap)
        self.logit_divisor = logit_divisor if logit_divisor not in (None, 1, 1.0) else None  # Granite: logits / it

    def __call__(self, pooled: torch.Tensor, groups: list[ReadoutGroup]) -> list[torch.Tensor]:
        results = []
        for g in groups:
            if g.params.label_token_ids is None:
                raise ValueError("a CausalLM score needs label_token_ids")
            if g.params.activation not in ("none", "softmax"):
                raise ValueError(f"a CausalLM's label scores take activation none or softmax, not {g.params.activation!r}")
            labels = torch.tensor(g.params.label_token_ids, device=pooled.device)
            parts = []
            for c0 in range(g.start, g.end, _LM_HEAD_ROWS):
                c1 = min(c0 + _LM_HEAD_ROWS, g.end)
                logits = self.lm_head(pooled[c0:c1]).float()  # [r, V]
                if self.logit_divisor is not None:
                    logits = logits / self.logit_divisor
                if self.logit_softcap is not None:
                    logits = torch.tanh(logits / self.logit_softcap) * self.logit_softcap
                label_logits = logits.index_select(1, labels)  # [r, C]
                if g.params.activation == "softmax":
                    parts.append(torch.softmax(label_logits, -1))
                else:
                    parts.append(torch.exp(label_logits - torch.logsumexp(logits, -1, keepdim=True)))
            results.append(torch.cat(parts) if parts else pooled.new_zeros((0, len(labels)), dtype=torch.float32))
        return results


class EmbeddingHead:
    """Embeddings in float32: through the model's sentence-transformers ``Dense`` layers (if any),
    cut to the request's ``dimensions`` (Matryoshka), then L2-normalised when the model's modules
    end in Normalize and the request's activation is ``default`` (vLLM's ``use_activation: false``
    keeps them raw), or always for ``l2``."""

    def __init__(self, normalize: bool, dense: tuple = ()) -> None:
        self.normalize = normalize
        self.dense_specs = dense  # configs.pooling_config.DenseLayer, in order
        self.dense: list[tuple[torch.Tensor, Optional[torch.Tensor], Callable]] = []  # (W [out, in], b, act), fp32

    def load_dense(self, model_dir: str, device: torch.device) -> None:
        """Read each Dense layer's weights (they live beside the checkpoint, in the module's folder)."""
        self.dense = [_load_dense_layer(model_dir, spec, device) for spec in self.dense_specs]

    def project(self, pooled: torch.Tensor) -> torch.Tensor:
        """[N, H] -> [N, out] float32 through the Dense layers (none: [N, H] as float32)."""
        pooled = pooled.float()
        for weight, bias, act in self.dense:
            pooled = act(F.linear(pooled, weight, bias))
        return pooled

    def __call__(self, pooled: torch.Tensor, groups: list[ReadoutGroup]) -> list[torch.Tensor]:
        pooled = self.project(pooled)  # [N, out]
        if all(g.params.dimensions is None and g.params.activation == "default" for g in groups):
            return _split(self._normalized(pooled, "default"), groups)
        return [self._normalized(pooled[g.start : g.end, : g.params.dimensions], g.params.activation) for g in groups]

    def _normalized(self, x: torch.Tensor, activation: str) -> torch.Tensor:
        if activation == "l2" or (self.normalize and activation == "default"):
            return F.normalize(x, dim=-1)
        return x


_DENSE_ACTIVATION_FNS = {"identity": lambda x: x, "tanh": torch.tanh}


def _load_dense_layer(model_dir: str, spec, device: torch.device):
    """-> (weight [out, in], bias [out] or None, activation), float32 on ``device``."""
    folder = os.path.join(model_dir, spec.directory)
    tensors = dict(iter_checkpoint(folder))  # model.safetensors or pytorch_model.bin
    weight = tensors["linear.weight"].float()
    if tuple(weight.shape) != (spec.out_features, spec.in_features):
        raise ValueError(f"Dense layer {folder}: weight {tuple(weight.shape)}, config says "
                         f"[{spec.out_features}, {spec.in_features}]")
    bias = tensors["linear.bias"].float().to(device) if spec.bias else None
    return weight.to(device), bias, _DENSE_ACTIVATION_FNS[spec.activation]


Head = Callable[[torch.Tensor, list[ReadoutGroup]], list[torch.Tensor]]


class Pooler:
    """A pooling method and a head: hidden rows -> one float32 tensor [num_items, C] per sequence."""

    def __init__(self, method: PoolingMethod, head: Head) -> None:
        self.method = method
        self.head = head

    def rows(self, meta: PoolingMetadata) -> Optional[torch.Tensor]:
        return None if meta.per_token else self.method.rows(meta)

    def __call__(self, hidden: torch.Tensor, meta: PoolingMetadata) -> list[torch.Tensor]:
        """hidden [R, H] at ``rows(meta)`` -> [end - start, C] per ReadoutGroup (token tasks: the
        head on every token, [seq_len, C] per sequence)."""
        pooled = hidden if meta.per_token else self.method.reduce(hidden, meta)
        return with_hidden(self.head(pooled, meta.groups), pooled, meta.groups)


def with_hidden(outputs: list[torch.Tensor], pooled: torch.Tensor, groups: list[ReadoutGroup]) -> list[torch.Tensor]:
    """Where a request asks for it (``return_hidden``): its [C] values, then the [H] pooled state they came from."""
    if not any(g.params.return_hidden for g in groups):
        return outputs
    return [torch.cat([out, pooled[g.start : g.end].float()], 1) if g.params.return_hidden else out
            for out, g in zip(outputs, groups)]
