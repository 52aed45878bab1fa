"""XLM-RoBERTa encoders (``XLMRobertaModel``, ``XLMRobertaForSequenceClassification``).

The encoder is BERT's (same parameter names, post-norm layers, one token type); two things
differ: position ids start after the padding index (token t of a sequence has position
``pad_token_id + 1 + t``), and the classifier head is ``classifier.dense`` -> tanh ->
``classifier.out_proj`` on the first token (``<s>``), with no pooler.
"""

from __future__ import annotations

import torch
from torch import nn

from multiscore.models.bert import BertModel


class XLMRobertaModel(BertModel):
    """The bare encoder: ``embeddings.*``, ``encoder.layer.N.*`` and an optional ``pooler.*``
    (unused by ``forward``; a loader sets ``model.pooler = None`` when the checkpoint has none)."""

    @staticmethod
    def first_position(config) -> int:
        # fairseq numbers positions after the padding index, which position_embeddings reserves.
        return config.pad_token_id + 1


class XLMRobertaClassificationHead(nn.Module):
    """``classifier``: out_proj(tanh(dense(first token)))."""

    def __init__(self, config) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.out_proj = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, first_token_hidden: torch.Tensor) -> torch.Tensor:
        return self.out_proj(torch.tanh(self.dense(first_token_hidden)))  # [B, num_labels]


class XLMRobertaForSequenceClassification(nn.Module):
    """``roberta.*`` (encoder, no pooler) + ``classifier.{dense,out_proj}``."""

    causal_lm = False
    is_encoder = True

    def __init__(self, config) -> None:
        super().__init__()
        self.config = config
        self.roberta = XLMRobertaModel(config, add_pooler=False)
        self.classifier = XLMRobertaClassificationHead(config)

    def forward(self, input_ids, token_type_ids, seq_lens: list[int]) -> torch.Tensor:
        return self.roberta(input_ids, token_type_ids, seq_lens)  # [T, H]

    def classify(self, first_token_hidden: torch.Tensor) -> torch.Tensor:
        """[B, H] final hidden state of each sequence's ``<s>`` -> logits [B, num_labels]."""
        return self.classifier(first_token_hidden)
