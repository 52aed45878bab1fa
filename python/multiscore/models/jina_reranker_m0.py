"""jina-reranker-m0 (``JinaVLForRanking``; vLLM's ``JinaVLForSequenceClassification``), on text: a
Qwen2-VL whose language model (Qwen2's layers) is read at each pair's last token by ``score``, an MLP
(``score.0`` [H, H] -> ReLU -> ``score.2`` [1, H], both biased), one relevance logit.

Pairs are formatted as vLLM formats them: ``**Document**:\\n{document}\\n**Query**:\\n{query}`` with the
score token (id 100) appended (the built-in ``jina_reranker_m0`` score template, this model's default).
The checkpoint's language model loads under the text model's names and its vision tower is not read
(configs/checkpoint_layouts.py).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.pooler import ClassifierHead, Pooler, PoolingMethod
from multiscore.models.qwen2 import Qwen2ForSequenceClassification


class RankingScorer(nn.Module):
    """``score``: dense [H, H] -> ReLU -> out_proj [labels, H] (the checkpoint's ``score.0`` / ``score.2``)."""

    def __init__(self, config) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.out_proj = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        """pooled [N, H] -> [N, labels]."""
        return self.out_proj(torch.relu(self.dense(pooled)))


class JinaVLForRanking(Qwen2ForSequenceClassification):
    weight_renames = {"score.0.": "score.dense.", "score.2.": "score.out_proj."}
    score_template = "jina_reranker_m0"  # the built-in template pairs are formatted with by default

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        hf_config.num_labels = 1  # one relevance logit, whatever labels the config lists

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__(config, pooling)
        self.score = RankingScorer(config)
        self.pooler = Pooler(PoolingMethod.LAST, ClassifierHead(self.score, config))


JinaVLForSequenceClassification = JinaVLForRanking  # vLLM's name
