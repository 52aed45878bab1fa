"""ColBERT's pooling (late interaction): every token's final hidden state is projected (pylate's
Dense layers, or a Stanford checkpoint's ``linear``) to a small vector and L2-normalised. A query's
vectors go back to the caller (task token_embed); a document is scored here, against the query
vectors its request carries, by MaxSim: for each query vector the best dot product with one of the
document's vectors, summed over the query. Only the document's score leaves the model process.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F

from multiscore.layers.pooler import EmbeddingHead, PoolingMetadata, sequence_rows
from multiscore.messages import PoolingParams


class LateInteractionPooler:
    """All hidden rows [T, H] -> per sequence: its token vectors [L, D] (token tasks), or its MaxSim
    score [1, 1] when the request carries a query (``PoolingParams.maxsim_query``)."""

    def __init__(self, project: Callable[[torch.Tensor], torch.Tensor], head: Optional[EmbeddingHead] = None) -> None:
        self.project = project  # [r, H] -> [r, D]
        self.head = head  # pylate's Dense layers, whose weights the loader reads into it; None for a Stanford checkpoint

    def rows(self, meta: PoolingMetadata) -> Optional[torch.Tensor]:
        return None  # every token of every sequence

    def __call__(self, hidden: torch.Tensor, meta: PoolingMetadata) -> list[torch.Tensor]:
        vectors = self.project(hidden).float()  # [T, D]
        outputs = []
        queries: dict[int, tuple] = {}  # id(params) -> its query and skiplist as tensors, once per request
        for group, rows in sequence_rows(meta):
            params = group.params
            if params.dimensions is not None:
                raise ValueError("'dimensions' does not apply to a ColBERT model: its token vectors keep their size")
            if params.maxsim_query is not None:
                if id(params) not in queries:
                    queries[id(params)] = _query_tensors(params, vectors)
                outputs.append(_maxsim(vectors[rows], meta.input_ids[rows], *queries[id(params)]))
            elif meta.per_token:
                normalise = params.activation in ("default", "l2")
                outputs.append(F.normalize(vectors[rows], dim=-1) if normalise else vectors[rows])
            else:
                raise ValueError("a ColBERT model gives a vector per token (task token_embed) or MaxSim scores, "
                                 "not one embedding per text")
        return outputs


def _query_tensors(params: PoolingParams, like: torch.Tensor) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """-> (the query's vectors [Lq, D], normalised by the caller's pass; the skiplist's ids [S] or None)."""
    skip = torch.tensor(params.skip_token_ids, device=like.device) if params.skip_token_ids else None
    return torch.from_numpy(params.maxsim_query).to(like), skip


def _maxsim(rows: torch.Tensor, ids: torch.Tensor, query: torch.Tensor, skip: Optional[torch.Tensor]) -> torch.Tensor:
    """One document's rows [L, D] (raw projections) and token ids [L] -> its score [1, 1]."""
    if skip is not None:
        rows = rows[~torch.isin(ids, skip)]
    if rows.shape[0] == 0:
        raise ValueError("a document has no token left to score once the skiplist's tokens are removed")
    document = F.normalize(rows, dim=-1)  # [Ld, D]
    return (query @ document.T).amax(dim=1).sum().reshape(1, 1)
