"""jina-reranker-v3 (``JinaForRanking``, remote code over Qwen3, read without it): a listwise reranker.

The query and a block of documents go into one prompt (entrypoints/serving/listwise.py builds it as the
model card's code does), each document followed by ``<|embed_token|>`` and the query, last, by
``<|rerank_token|>``. Qwen3's causal body runs the prompt; the final hidden state at each marker goes
through ``projector`` (Linear H -> H/2, ReLU, Linear H/2 -> 512, no biases), and a document's score is
the cosine of its vector and the query's (computed by the serving layer, which also combines blocks).

Here a request asks for the marker rows alone (``PoolingParams.per_token``: the sequence's one output
is its rows): the model reads the rows whose token is a marker — only they pass through the last
layer's MLP and the final norm — and returns their projected vectors, float32, in prompt order.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.pooler import PoolingMetadata
from multiscore.models.decoder import DecoderForEmbedding
from multiscore.models.qwen3 import qwen3_options

# The remote code's marker ids (Qwen3's added tokens); a config may name others.
DOC_EMBED_TOKEN_ID, QUERY_EMBED_TOKEN_ID = 151670, 151671


class MarkerReadout:
    """The pooler: rows whose token is a marker -> one [k, 512] float32 tensor per sequence (its k markers)."""

    def __init__(self, marker_ids: tuple[int, ...], projector: nn.Module) -> None:
        self.marker_ids = torch.tensor(marker_ids)
        self.projector = projector

    def rows(self, meta: PoolingMetadata) -> torch.Tensor:
        ids = meta.input_ids  # [T]
        return torch.nonzero(torch.isin(ids, self.marker_ids.to(ids.device))).squeeze(1)  # [R], ascending

    def __call__(self, hidden: torch.Tensor, meta: PoolingMetadata) -> list[torch.Tensor]:
        """hidden [R, H] at ``rows`` -> per sequence its rows' projected vectors [k, 512]."""
        rows = self.rows(meta)
        seq_of_row = torch.searchsorted(meta.seq_starts, rows, right=True) - 1  # [R]
        counts = torch.bincount(seq_of_row, minlength=len(meta.seq_lens)).tolist()
        return list(self.projector(hidden).float().split(counts))


class JinaForRanking(DecoderForEmbedding):
    kind = ModelKind.LISTWISE_RERANKER
    options_for = staticmethod(qwen3_options)

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__(config)
        hidden = config.hidden_size
        self.projector = nn.Sequential(nn.Linear(hidden, hidden // 2, bias=False), nn.ReLU(),
                                       nn.Linear(hidden // 2, 512, bias=False))
        with torch.device("cpu"):  # read by the pooler, not loaded: real even when built on the meta device
            self.pooler = MarkerReadout(marker_ids_of(config), self.projector)


def marker_ids_of(config) -> tuple[int, int]:
    """(document marker, query marker) token ids."""
    return (int(getattr(config, "doc_embed_token_id", DOC_EMBED_TOKEN_ID)),
            int(getattr(config, "query_embed_token_id", QUERY_EMBED_TOKEN_ID)))
