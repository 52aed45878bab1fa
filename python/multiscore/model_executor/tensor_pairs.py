"""Checkpoint tensors stored as two parts of one weight (quantized values and their scales), joined
into that weight as the second part is read, whichever comes first (model_executor/mxfp4.py, fp8.py)."""

from __future__ import annotations

from typing import Callable, Iterator, Optional

import torch

# (name, tensor) -> (the weight's name, the part's suffix) for one of the two parts, None for any other tensor
PartOf = Callable[[str, torch.Tensor], Optional[tuple[str, str]]]


def joined_pairs(tensors: Iterator[tuple[str, torch.Tensor]], suffixes: tuple[str, str], part_of: PartOf,
                 join: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                 format_name: str) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) with each pair of parts (``suffixes``: the first one's, the second one's, as
    ``part_of`` names them) replaced by (the weight's name, ``join(first part, second part)``); every
    other tensor passes unchanged. ValueError for a part read twice or left without its other."""
    pending: dict[str, tuple[str, torch.Tensor]] = {}  # weight -> (the suffix read, its tensor)
    for name, tensor in tensors:
        part = part_of(name, tensor)
        if part is None:
            yield name, tensor
            continue
        base, suffix = part
        if base not in pending:
            pending[base] = (suffix, tensor)
            continue
        first_suffix, first = pending.pop(base)
        if first_suffix == suffix:
            raise ValueError(f"checkpoint tensor {name} appears twice")
        a, b = (first, tensor) if first_suffix == suffixes[0] else (tensor, first)
        try:
            yield base, join(a, b)
        except ValueError as e:
            raise ValueError(f"checkpoint tensor {base}: {e}") from None
    if pending:
        base, (suffix, _) = next(iter(pending.items()))
        missing = suffixes[1] if suffix == suffixes[0] else suffixes[0]
        raise ValueError(f"{format_name} checkpoint: {base}{suffix} has no {base}{missing}")
