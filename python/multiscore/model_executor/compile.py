"""``--compile``: whether the model's element-wise chains run through torch.compile, and the
start-up warm-up that compiles them before the first request.

Measured on W1 (benchmark/README.md): in bf16 on CPU the fused chains take ~7 % off an MIS pass
and ~10 % off single-item scoring; in float32 they gain nothing (the eager fp32 norm is already one
kernel), so ``auto`` compiles 16-bit decoders on CPU only. On GPU the compiled path has never run
(no GPU was lent to the sessions that built it): ``auto`` keeps it off there.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

import torch

from multiscore.configs.model_kind import ModelKind
from multiscore.layers.fused_ops import EAGER, compiled_ops
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from multiscore.model_executor.mis_layout import pack_mis

logger = logging.getLogger(__name__)


@dataclass
class CompileOutcome:
    compiled: bool
    reason: str
    seconds: float = 0.0  # compilation and warm-up at start-up


def compile_decision(mode: str, device: torch.device, dtype: torch.dtype, model) -> tuple[bool, str]:
    """-> (whether to compile, why)."""
    if not hasattr(model, "use_fused_ops"):
        return False, "this model has no fused element-wise ops (encoders run eager)"
    if mode == "off":
        return False, "--compile off"
    if mode == "on":
        return True, "--compile on"
    if device.type != "cpu":
        return False, "auto: the compiled path is measured on CPU only"
    if dtype == torch.float32:
        return False, "auto: float32 gains nothing from the fused ops"
    return True, f"auto: {str(dtype).removeprefix('torch.')} on CPU"


def warm_up_sequences(kind: ModelKind) -> list[list[ScoreSequence]]:
    """Batches whose shapes reach every compiled graph: torch.compile specialises sizes 0 and 1,
    so one batch of 1 token (T = 1, one read-out row) and others with T > 1 and 1 or 2 read-outs;
    for decoders that score items after a query, MIS sequences whose items pad their blocks (the
    merge gathers the valid slots) and whose items fill them (no gather: 16 tokens, the CPU's key alignment)."""
    pooling = PoolingParams(label_token_ids=[1] if kind is ModelKind.CAUSAL_LM else None)

    def seq(n: int, i: int) -> ScoreSequence:
        return ScoreSequence(f"warm-up-{i}", [1] * n, i, 1, pooling)

    def mis(item_lens: list[int]) -> ScoreSequence:
        items = [[1] * n for n in item_lens]
        return ScoreSequence("warm-up-mis", pack_mis([1, 1], items, 1), 0, len(items), pooling, query_len=2,
                             item_lens=item_lens)

    batches = [[seq(1, 0)], [seq(3, 0)], [seq(3, 0), seq(5, 1)]]
    if kind.shares_query:
        batches += [[mis([2, 3])], [mis([16, 16])]]
    return batches


def apply_compile(mode: str, device: torch.device, dtype: torch.dtype, model, run: Callable, backend) -> CompileOutcome:
    """Compile the fused ops of the model and of its attention ``backend`` and warm them up with
    ``run(batch)``; any failure (no C++ compiler, an inductor error) falls back to the eager ops with
    the reason logged."""
    wanted, reason = compile_decision(mode, device, dtype, model)
    if not wanted:
        logger.info("compiled ops off: %s", reason)
        return CompileOutcome(False, reason)
    start = time.perf_counter()
    try:
        ops = compiled_ops()
        model.use_fused_ops(ops)
        backend.use_fused_ops(ops)
        for batch in warm_up_sequences(model.kind):
            run(batch)
    except Exception as e:  # noqa: BLE001 - whatever inductor raises, serving continues eager
        model.use_fused_ops(EAGER)
        backend.use_fused_ops(EAGER)
        reason = f"compilation failed, running eager: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        logger.warning("compiled ops off: %s", reason)
        return CompileOutcome(False, reason, time.perf_counter() - start)
    seconds = time.perf_counter() - start
    logger.info("compiled ops on (%s): compiled and warmed up in %.1f s", reason, seconds)
    return CompileOutcome(True, reason, seconds)
