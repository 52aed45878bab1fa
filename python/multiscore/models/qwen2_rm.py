"""Qwen's reward models (remote code whose config is plain ``qwen2``): Qwen2's layers read by ``score``,
an MLP (``score.0`` [H, H] -> ReLU -> ``score.2`` [labels, H], both biased; jina_reranker_m0's
RankingScorer), as vLLM serves them:

- ``Qwen2ForRewardModel`` (Qwen2.5-Math-RM-72B): one raw reward (no activation). vLLM's /pooling
  gives it per token by default (its ALL pooling); a sequence's reward is its last token's.
- ``Qwen2ForProcessRewardModel`` (Qwen2.5-Math-PRM-7B / -72B, Qwen2.5-Math-7B-PRM800K): two labels
  per token, softmax; a step's reward is the second label's probability at its step tag
  (``<extra_0>``, id 151651), read from the per-token output that /pooling gives by default.
"""

from __future__ import annotations

from typing import Optional

from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.pooler import ClassifierHead, Pooler, PoolingMethod
from multiscore.models.jina_reranker_m0 import RankingScorer
from multiscore.models.qwen2 import Qwen2ForSequenceClassification


class Qwen2ForRewardModel(Qwen2ForSequenceClassification):
    weight_renames = {"score.0.": "score.dense.", "score.2.": "score.out_proj."}
    default_pooling_task = "token_classify"  # vLLM's /pooling default: the reward at every token

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        hf_config.num_labels = 1
        hf_config.problem_type = "regression"  # a raw reward

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__(config, pooling)
        self.score = RankingScorer(config)
        self.pooler = Pooler(PoolingMethod.LAST, ClassifierHead(self.score, config))


class Qwen2ForProcessRewardModel(Qwen2ForRewardModel):
    @classmethod
    def adapt_config(cls, hf_config) -> None:
        hf_config.num_labels = 2  # as vLLM sets it: [wrong, right] per token, softmax
        hf_config.problem_type = "single_label_classification"
