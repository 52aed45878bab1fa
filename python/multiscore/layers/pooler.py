"""score_and_pool: turn hidden states into per-item scores, touching only the read-out rows.

The head (LM head or classification head) runs on the R read-out rows, never on all T rows;
for CausalLM the full-vocabulary log-softmax is therefore an [R, V] computation, never [T, V].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

# Rows per LM-head chunk: bounds the [rows, V] float32 logits buffer (~75 MB at V = 152k).
_LM_HEAD_ROWS = 128


@dataclass
class ReadoutGroup:
    """Read-out rows [start, end) of one sequence, and how its request wants them scored."""

    start: int
    end: int
    label_token_ids: Optional[list[int]]  # CausalLM only
    apply_softmax: bool


def score_and_pool(
    hidden: torch.Tensor,
    readout_rows: Optional[torch.Tensor],
    groups: list[ReadoutGroup],
    head_weight: torch.Tensor,
    head_bias: Optional[torch.Tensor] = None,
    causal_lm: bool = False,
) -> list[torch.Tensor]:
    """hidden [T, H], readout_rows [R] -> one float32 tensor [end - start, C] per group.

    ``readout_rows=None``: ``hidden`` already holds only the read-out rows [R, H] (the model
    pruned its last layer to them).

    causal_lm: head_weight is the LM head [V, H]; C = len(label_token_ids). ``apply_softmax=False``
    gives full-vocabulary probabilities of the labels, ``True`` a softmax over the label logits only.
    Otherwise head_weight is a classification head [C, H] and scores are its logits (softmax optional).
    """
    pooled = hidden if readout_rows is None else hidden.index_select(0, readout_rows)  # [R, H]
    if not causal_lm:
        logits = torch.nn.functional.linear(pooled, head_weight, head_bias).float()  # [R, C]
        return [
            torch.softmax(logits[g.start : g.end], -1) if g.apply_softmax else logits[g.start : g.end] for g in groups
        ]
    results = []
    for g in groups:
        if g.label_token_ids is None:
            raise ValueError("a CausalLM score needs label_token_ids")
        labels = torch.tensor(g.label_token_ids, device=hidden.device)
        parts = []
        for c0 in range(g.start, g.end, _LM_HEAD_ROWS):
            c1 = min(c0 + _LM_HEAD_ROWS, g.end)
            logits = torch.nn.functional.linear(pooled[c0:c1], head_weight, head_bias).float()  # [r, V]
            label_logits = logits.index_select(1, labels)  # [r, C]
            if g.apply_softmax:
                parts.append(torch.softmax(label_logits, -1))
            else:
                parts.append(torch.exp(label_logits - torch.logsumexp(logits, -1, keepdim=True)))
        results.append(torch.cat(parts) if parts else pooled.new_zeros((0, len(labels)), dtype=torch.float32))
    return results
