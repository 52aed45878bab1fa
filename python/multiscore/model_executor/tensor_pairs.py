"""Checkpoint tensors stored as parts of one weight (quantized values and their scales, a packed weight's shape),
joined into that weight as its last part is read, whichever order they come in (model_executor/mxfp4.py, fp8.py,
compressed_tensors.py)."""

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
    return joined_parts(tensors, suffixes, part_of, lambda parts: join(parts[suffixes[0]], parts[suffixes[1]]),
                        format_name)


def joined_parts(tensors: Iterator[tuple[str, torch.Tensor]], suffixes: tuple[str, ...], part_of: PartOf,
                 join: Callable[[dict[str, torch.Tensor]], torch.Tensor],
                 format_name: str) -> Iterator[tuple[str, torch.Tensor]]:
    """joined_pairs for any number of parts: once all of a weight's ``suffixes`` are read, (the weight's name,
    ``join({suffix: part})``)."""
    pending: dict[str, dict[str, torch.Tensor]] = {}  # weight -> the parts read so far
    for name, tensor in tensors:
        part = part_of(name, tensor)
        if part is None:
            yield name, tensor
            continue
        base, suffix = part
        parts = pending.setdefault(base, {})
        if suffix in parts:
            raise ValueError(f"checkpoint tensor {name} appears twice")
        parts[suffix] = tensor
        if len(parts) < len(suffixes):
            continue
        del pending[base]
        try:
            yield base, join(parts)
        except ValueError as e:
            raise ValueError(f"checkpoint tensor {base}: {e}") from None
    if pending:
        base, parts = next(iter(pending.items()))
        missing = next(suffix for suffix in suffixes if suffix not in parts)
        raise ValueError(f"{format_name} checkpoint: {base}{next(iter(parts))} has no {base}{missing}")
