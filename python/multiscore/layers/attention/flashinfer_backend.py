"""FlashInfer attention (GPU): one ragged prefill plan per batch, with FlashInfer's multi-item-scoring
mask for MIS sequences and plain causal attention for the others (flashinfer_metadata.py).

Imported only when ``--attention-backend flashinfer`` is chosen; needs CUDA, flashinfer-python
(the ``gpu`` extra) and a 16-bit dtype. NOT YET RUN ON A GPU: written against FlashInfer's
documented ``BatchPrefillWithRaggedKVCacheWrapper.plan`` arguments; the GPU tests in
test/gpu/test_flashinfer_backend.py must pass before it becomes the default on CUDA.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from multiscore.layers.attention.base import AttentionBackend, SequenceLayout
from multiscore.layers.attention.flashinfer_metadata import FlashInferPlanInputs, build_plan_inputs
from multiscore.layers.attention.torch_backend import TorchAttentionBackend

_WORKSPACE_BYTES = 128 * 1024 * 1024  # FlashInfer's recommended float workspace


@dataclass
class FlashInferMetadata:
    inputs: FlashInferPlanInputs
    planned: bool = False  # planned on the first layer's call (the scale arrives with it)


@dataclass
class TorchFallbackMetadata:
    """A batch FlashInfer's mask cannot express (an MIS sequence with an empty query)."""

    metadata: Any


class FlashInferAttentionBackend(AttentionBackend):
    name = "flashinfer"

    def __init__(self, device: torch.device, dtype: torch.dtype, num_heads: int, num_kv_heads: int, head_dim: int) -> None:
        super().__init__(device, dtype)
        if device.type != "cuda":
            raise ValueError("the flashinfer attention backend needs a CUDA device (--device cuda)")
        if dtype not in (torch.bfloat16, torch.float16):
            raise ValueError("the flashinfer attention backend needs --dtype bfloat16 or float16")
        try:
            import flashinfer
        except ImportError as e:
            raise ValueError(f"flashinfer is not installed (pip install -e '.[gpu]'): {e}") from None
        self.num_heads, self.num_kv_heads, self.head_dim = num_heads, num_kv_heads, head_dim
        workspace = torch.empty(_WORKSPACE_BYTES, dtype=torch.uint8, device=device)
        self.wrapper = flashinfer.BatchPrefillWithRaggedKVCacheWrapper(workspace, kv_layout="NHD")
        self.fallback = TorchAttentionBackend(device, dtype, num_heads, num_kv_heads, head_dim)

    def build_metadata(self, layouts: list[SequenceLayout]):
        inputs = build_plan_inputs(layouts)
        if inputs.needs_fallback:
            return TorchFallbackMetadata(self.fallback.build_metadata(layouts))
        return FlashInferMetadata(inputs)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, metadata, scale: float) -> torch.Tensor:
        """q [T, Hq, D], k/v [T, Hkv, D] (packed rows, NHD) -> [T, Hq, D]."""
        if isinstance(metadata, TorchFallbackMetadata):
            return self.fallback.forward(q, k, v, metadata.metadata, scale)
        if not metadata.planned:  # once per batch: every layer reuses the plan
            self._plan(metadata.inputs, scale)
            metadata.planned = True
        return self.wrapper.run(q, k, v)

    def _plan(self, inputs: FlashInferPlanInputs, scale: float) -> None:
        mis = {}
        if inputs.is_mis:
            mis = dict(
                prefix_len_ptr=inputs.prefix_len.to(self.device),
                token_pos_in_items_ptr=inputs.token_pos_in_items.to(self.device),
                token_pos_in_items_len=inputs.token_pos_in_items_len,
                max_item_len_ptr=inputs.max_item_len.to(self.device),
            )
        self.wrapper.plan(
            inputs.indptr, inputs.indptr, self.num_heads, self.num_kv_heads, self.head_dim,
            causal=True, sm_scale=scale, q_data_type=self.dtype, kv_data_type=self.dtype, **mis,
        )
