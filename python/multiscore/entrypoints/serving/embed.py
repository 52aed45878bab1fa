"""What OpenAI's /v1/embeddings and vLLM's /pooling mean: one pooled vector per input."""

from __future__ import annotations

from typing import Optional

from multiscore.configs.model_config import ModelConfig
from multiscore.configs.model_kind import Task
from multiscore.entrypoints.serving.classify import ClassifyServing
from multiscore.entrypoints.serving.results import EmbedResult, PoolingResult
from multiscore.entrypoints.serving.tasks import require_task
from multiscore.messages import PoolingParams
from multiscore.tokenizer.tokenizer_manager import TokenizerManager


class EmbedServing:
    def __init__(self, tm: TokenizerManager, model_config: ModelConfig, classify: ClassifyServing) -> None:
        self.tm = tm
        self.model_config = model_config
        self.classify = classify

    async def embed(
        self, inputs, *, dimensions: Optional[int] = None, truncate_prompt_tokens: Optional[int] = None,
        add_special_tokens: bool = True,
    ) -> EmbedResult:
        """One embedding per input; ``dimensions`` cuts a Matryoshka embedding (renormalised)."""
        require_task(self.model_config, Task.EMBED)
        if dimensions is not None:
            self._check_dimensions(dimensions)
        ids = self.tm.tokenize_inputs(
            inputs, add_special_tokens=add_special_tokens, truncate_prompt_tokens=truncate_prompt_tokens, what="embed"
        )
        out = await self.tm.run_request(self.tm.build_request([], ids, PoolingParams(dimensions=dimensions)))
        return EmbedResult(out.outputs, out.prompt_tokens)

    async def pool(
        self, inputs, *, dimensions: Optional[int] = None, use_activation: Optional[bool] = None,
        truncate_prompt_tokens: Optional[int] = None, add_special_tokens: bool = True,
    ) -> PoolingResult:
        """vLLM's /pooling: embeddings from an embedding model, class scores from a classifier."""
        options = dict(truncate_prompt_tokens=truncate_prompt_tokens, add_special_tokens=add_special_tokens)
        if Task.EMBED in self.model_config.tasks:
            result = await self.embed(inputs, dimensions=dimensions, **options)
            return PoolingResult(result.embeddings, result.prompt_tokens)
        if dimensions is not None:
            raise ValueError("'dimensions' applies to embedding models; this one is a classifier")
        classified = await self.classify.classify(inputs, use_activation=use_activation, **options)
        return PoolingResult([c.probs for c in classified.data], classified.prompt_tokens)

    def _check_dimensions(self, dimensions: int) -> None:
        allowed = self.model_config.matryoshka_dimensions
        hidden = self.model_config.hf_config.hidden_size
        if allowed is None:
            raise ValueError(f"this model does not support 'dimensions' (it is not a Matryoshka model); its embeddings have {hidden}")
        if dimensions < 1 or dimensions > hidden or (allowed and dimensions not in allowed):
            choices = ", ".join(map(str, allowed)) if allowed else f"1 to {hidden}"
            raise ValueError(f"'dimensions' must be one of {choices}, got {dimensions}")
