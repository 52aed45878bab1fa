"""Pool the token states of each packed sequence into one embedding (CLS, mean or last token)."""

from __future__ import annotations

import torch


def pooling_rows(mode: str, seq_lens: list[int], device: torch.device) -> torch.Tensor:
    """The flat rows [R] a pooling mode reads: one per sequence (cls, last) or all of them (mean)."""
    lens = torch.tensor(seq_lens, dtype=torch.long)
    starts = torch.cumsum(lens, 0) - lens
    if mode == "cls":
        rows = starts
    elif mode == "last":
        rows = starts + lens - 1
    elif mode == "mean":
        rows = torch.arange(int(lens.sum()))
    else:
        raise ValueError(f"unknown pooling mode {mode!r}")
    return rows.to(device)


def pool(rows_hidden: torch.Tensor, mode: str, seq_lens: list[int], normalize: bool) -> torch.Tensor:
    """rows_hidden [R, H] (the rows ``pooling_rows`` chose) -> embeddings [B, H] float32."""
    hidden = rows_hidden.float()
    if mode == "mean":
        lens = torch.tensor(seq_lens, dtype=torch.long, device=hidden.device)
        segment = torch.repeat_interleave(torch.arange(len(seq_lens), device=hidden.device), lens)  # [T]
        sums = hidden.new_zeros(len(seq_lens), hidden.shape[1]).index_add_(0, segment, hidden)  # [B, H]
        hidden = sums / lens.unsqueeze(1).to(hidden.dtype)
    if normalize:
        hidden = torch.nn.functional.normalize(hidden, dim=-1)
    return hidden
