"""Item (and query) embeddings given as vectors, SGLang's ``embed_override_token_id`` with
``item_embed_overrides`` / ``query_embed_overrides``: validated here, in the main process, so a
bad request is a 400 and never reaches the model."""

from __future__ import annotations

from typing import Optional

import numpy as np

from multiscore.messages import EmbedOverrides
from multiscore.tokenizer.inputs import check_token_ids


def build_embed_overrides(
    token_id: Optional[int], query_ids: list[int], items_ids: list[list[int]], query_vectors, item_vectors,
    *, hidden_size: int, vocab_size: int,
) -> Optional[EmbedOverrides]:
    """-> the request's overrides (None when it has none). ``query_vectors``: vectors (lists of
    floats or tensors) for the query's placeholders; ``item_vectors``: one such list, or None, per item."""
    if query_vectors is None and item_vectors is None:
        return None
    if token_id is None:
        raise ValueError("'embed_override_token_id' is required with 'query_embed_overrides' or 'item_embed_overrides'")
    check_token_ids([token_id], vocab_size, "'embed_override_token_id'")
    if item_vectors is not None and len(item_vectors) != len(items_ids):
        raise ValueError(
            f"'item_embed_overrides' has {len(item_vectors)} entries for {len(items_ids)} items: give one per item (null for none)"
        )
    query = _vectors(query_vectors, query_ids, token_id, hidden_size, "the query")
    items = [
        _vectors(vectors, ids, token_id, hidden_size, f"item {i}")
        for i, (vectors, ids) in enumerate(zip(item_vectors or [None] * len(items_ids), items_ids))
    ]
    return EmbedOverrides(token_id=token_id, query=query, items=items)


def _vectors(vectors, ids: list[int], token_id: int, hidden_size: int, what: str) -> Optional[np.ndarray]:
    """One sequence's vectors -> [k, H] float32, one per occurrence of the placeholder in ``ids``."""
    if vectors is None:
        return None
    try:
        rows = [np.asarray(v, dtype=np.float32) for v in vectors]
    except (TypeError, ValueError):
        raise ValueError(f"the embedding overrides of {what} must be lists of numbers") from None
    for row in rows:
        if row.ndim != 1 or row.shape[0] != hidden_size:
            raise ValueError(
                f"an embedding override of {what} has {row.size} values; the model's hidden size is {hidden_size}"
            )
        if not np.isfinite(row).all():
            raise ValueError(f"an embedding override of {what} is not finite")
    occurrences = sum(1 for t in ids if t == token_id)
    if occurrences != len(rows):
        raise ValueError(
            f"{what} contains {occurrences} occurrences of embed_override_token_id={token_id}, "
            f"but {len(rows)} override embeddings were given"
        )
    return np.stack(rows) if rows else np.zeros((0, hidden_size), dtype=np.float32)
