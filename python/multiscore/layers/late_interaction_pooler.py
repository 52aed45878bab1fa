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

from multiscore.layers.pooler import EmbeddingHead, PoolingMetadata
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
        outputs, start = [], 0
        for group, length in zip(meta.groups, meta.seq_lens):  # encoders: one group per sequence
            rows, ids = vectors[start : start + length], meta.input_ids[start : start + length]
            start += length
            params = group.params
            if params.dimensions is not None:
                raise ValueError("'dimensions' does not apply to a ColBERT model: its token vectors keep their size")
            if params.maxsim_query is not None:
                outputs.append(_maxsim(rows, ids, params))
            elif meta.per_token:
                outputs.append(F.normalize(rows, dim=-1) if params.activation in ("default", "l2") else rows)
            else:
                raise ValueError("a ColBERT model gives a vector per token (task token_embed) or MaxSim scores, "
                                 "not one embedding per text")
        return outputs


def _maxsim(rows: torch.Tensor, ids: torch.Tensor, params: PoolingParams) -> torch.Tensor:
    """One document's rows [L, D] (raw projections) and token ids [L] -> its score [1, 1]."""
    if params.skip_token_ids:
        rows = rows[~torch.isin(ids, torch.tensor(params.skip_token_ids, device=ids.device))]
    if rows.shape[0] == 0:
        raise ValueError("a document has no token left to score once the skiplist's tokens are removed")
    document = F.normalize(rows, dim=-1)  # [Ld, D]
    query = torch.from_numpy(params.maxsim_query).to(document)  # [Lq, D], normalised by the caller's pass
    return (query @ document.T).amax(dim=1).sum().reshape(1, 1)
