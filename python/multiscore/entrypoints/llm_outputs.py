"""What vLLM's offline ``LLM`` returns (``vllm.outputs``), for ``multiscore.LLM``: a vLLM user's code
reads ``output.outputs.embedding``, ``.probs``, ``.score`` or ``.data`` and ``output.prompt_token_ids``
the same way here. Also vLLM's ``PoolingParams``: the per-call options of those methods."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, Optional, TypeVar

import torch


@dataclass
class LoRARequest:
    """vLLM's ``LoRARequest(lora_name, lora_int_id, lora_path)``: the adapter a call runs with (vLLM's own
    object is taken too). Loaded on first use when the LLM started with ``enable_lora=True``."""

    lora_name: str
    lora_int_id: int = 0
    lora_path: str = ""


@dataclass
class PoolingParams:
    """vLLM's per-call pooling options: ``use_activation`` (an embedding's normalisation, a
    classifier's activation; ``normalize`` is its older name), ``dimensions`` (Matryoshka),
    ``truncate_prompt_tokens``, and ``extra_kwargs`` (``max_tokens_per_doc`` for ``LLM.score``)."""

    truncate_prompt_tokens: Optional[int] = None
    dimensions: Optional[int] = None
    use_activation: Optional[bool] = None
    normalize: Optional[bool] = None
    extra_kwargs: dict = field(default_factory=dict)

    @property
    def activation(self) -> Optional[bool]:
        if self.use_activation is not None and self.normalize is not None and self.use_activation != self.normalize:
            raise ValueError("PoolingParams: use_activation and normalize disagree")
        return self.use_activation if self.use_activation is not None else self.normalize


@dataclass
class PoolingOutput:
    data: torch.Tensor  # the model's output for the task: [C], or [tokens, C] for a token task


@dataclass
class EmbeddingOutput:
    embedding: list[float]

    @property
    def hidden_size(self) -> int:
        return len(self.embedding)


@dataclass
class ClassificationOutput:
    probs: list[float]

    @property
    def num_classes(self) -> int:
        return len(self.probs)


@dataclass
class ScoringOutput:
    score: float


O = TypeVar("O")


@dataclass
class PoolingRequestOutput(Generic[O]):
    request_id: str
    outputs: Any  # PoolingOutput here; the subclasses' own
    prompt_token_ids: list[int]
    finished: bool = True


class EmbeddingRequestOutput(PoolingRequestOutput[EmbeddingOutput]):
    pass


class ClassificationRequestOutput(PoolingRequestOutput[ClassificationOutput]):
    pass


class ScoringRequestOutput(PoolingRequestOutput[ScoringOutput]):
    pass
