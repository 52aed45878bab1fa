"""What vLLM's /classify means: class scores per input, with the model's activation and labels."""

from __future__ import annotations

from typing import Optional

from multiscore.configs.model_config import ModelConfig
from multiscore.configs.model_kind import Task
from multiscore.entrypoints.serving.results import Classification, ClassifyResult
from multiscore.entrypoints.serving.tasks import require_task
from multiscore.messages import PoolingParams
from multiscore.tokenizer.tokenizer_manager import TokenizerManager


class ClassifyServing:
    def __init__(self, tm: TokenizerManager, model_config: ModelConfig) -> None:
        self.tm = tm
        self.model_config = model_config

    async def classify(
        self, inputs, *, use_activation: Optional[bool] = None, truncate_prompt_tokens: Optional[int] = None,
        add_special_tokens: Optional[bool] = None, keep_start: bool = False,
    ) -> ClassifyResult:
        """Each input is its own sequence (never packed): inputs are unrelated texts.
        ``truncate_prompt_tokens`` keeps the last tokens (vLLM's rule), the first with ``keep_start``."""
        cfg = self.model_config
        require_task(cfg, Task.CLASSIFY)
        ids = await self.tm.tokenize_inputs(
            inputs, add_special_tokens=add_special_tokens, truncate_prompt_tokens=truncate_prompt_tokens,
            keep_start=keep_start, what="classify",
        )
        pooling = PoolingParams(activation="none" if cfg.pooler.use_activation_for(use_activation) is False else "default")
        out = await self.tm.run_request(self.tm.build_request([], ids, pooling))
        data = [
            Classification(i, cfg.label_name(max(range(len(row)), key=row.__getitem__)), row, len(row))
            for i, row in enumerate(out.outputs)
        ]
        return ClassifyResult(data, out.prompt_tokens, ids)


def ranked_labels(model_config: ModelConfig, row: list[float]) -> list[dict]:
    """Every class's score with its label, best first: [{score, label}] (TEI's /predict, Infinity's /classify)."""
    order = sorted(range(len(row)), key=lambda i: -row[i])
    return [{"score": row[i], "label": model_config.label_name(i) or f"LABEL_{i}"} for i in order]
