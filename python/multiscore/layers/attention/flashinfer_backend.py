"""FlashInfer attention (GPU): FlashInfer's multi-item-scoring mask for MIS batches, plain causal
prefill for the others; one plan per batch, reused by every layer (flashinfer_metadata.py).

Which wrapper runs which batch, from FlashInfer's own source (0.5.3 and 0.7.2 alike):
- MIS batches run on ``BatchPrefillWithPagedKVCacheWrapper`` with the FA2 kernels. It is the only
  wrapper whose ``run`` selects ``MaskMode.MULTIITEMSCORING`` when ``prefix_len_ptr`` was planned;
  the ragged wrapper accepts the same plan arguments but runs plain causal attention, so MIS items
  would silently see each other. The batch's own k/v rows are the "cache": with ``page_size = 1``
  row t is page t (``k.unsqueeze(1)`` is a view, no copy). SGLang runs MIS the same way.
- Batches with no MIS sequence run on the ragged wrapper, also on FA2: causal for decoders,
  bidirectional (``causal=False``) for encoders. Both wrappers then share one compiled module per
  dtype (its ``"auto"`` would pick FA3 on Hopper: a second JIT compile, never yet built with the
  device's CUDA 13; whether FA3 is faster for plain batches is for a measured GPU run to say).
- Batches where a sequence has a cached prefix (the prefix cache, model_executor/prefix_cache.py)
  run on the paged wrapper too, MIS or not: its pages are rows of ``[batch k ; cached k]``, so a
  sequence's keys are its cached prefix's rows followed by its own (flashinfer_metadata.py). One
  call per layer, no merge of partial attentions.

Imported only when ``--attention-backend flashinfer`` is chosen; needs CUDA, flashinfer-python
(the ``gpu`` extra), a 16-bit dtype and a head dim FA2 runs (64/128/256: 0.5.3 dispatches 512 but
refuses its configuration at run time, prefill.cuh).
NOT YET RUN ON A GPU: test/unit/layers/test_flashinfer_kernels.py (and test_flashinfer_cached_prefix.py
for cached prefixes) drive ``FlashInferKernels`` through a CPU stand-in that follows FlashInfer's
source (test/fake_flashinfer.py); test/gpu/ must pass on a GPU before this becomes the default on CUDA.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any, Optional

import torch

from multiscore.layers.attention.base import AttentionBackend, SequenceLayout
from multiscore.layers.attention.flashinfer_metadata import FlashInferPlanInputs, build_plan_inputs
from multiscore.layers.attention.torch_backend import TorchAttentionBackend

# SGLang's size for Qwen2/Qwen3 models: large prefill batches split their KV work and need room.
_WORKSPACE_BYTES = 512 * 1024 * 1024
SUPPORTED_HEAD_DIMS = (64, 128, 256)  # FlashInfer 0.5.3's FA2 (and its AOT list); 512 compiles but fails to run


@dataclass
class FlashInferMetadata:
    inputs: FlashInferPlanInputs
    planned: bool = False  # planned on the first layer's call (the scale arrives with it)


@dataclass
class TorchFallbackMetadata:
    """A batch FlashInfer's mask cannot express (an MIS sequence with an empty query)."""

    metadata: Any


class FlashInferKernels:
    """The FlashInfer calls for packed prefill batches.

    Takes the ``flashinfer`` module as an argument so CPU tests can pass a stand-in; the checks
    that a real run needs (CUDA, dtype, head dim) live in the backend.
    """

    def __init__(self, flashinfer: ModuleType, device: torch.device, dtype: torch.dtype, num_heads: int, num_kv_heads: int, head_dim: int) -> None:
        self.device, self.dtype = device, dtype
        self.num_heads, self.num_kv_heads, self.head_dim = num_heads, num_kv_heads, head_dim
        workspace = torch.empty(_WORKSPACE_BYTES, dtype=torch.uint8, device=device)  # one batch runs at a time
        self.ragged = flashinfer.BatchPrefillWithRaggedKVCacheWrapper(workspace, "NHD", backend="fa2")
        self.paged = flashinfer.BatchPrefillWithPagedKVCacheWrapper(workspace, "NHD", backend="fa2")

    @staticmethod
    def uses_paged(inputs: FlashInferPlanInputs) -> bool:
        return inputs.is_mis or inputs.has_cached_prefix

    def plan(self, inputs: FlashInferPlanInputs, scale: float) -> None:
        common = dict(causal=inputs.causal, sm_scale=scale, q_data_type=self.dtype, kv_data_type=self.dtype)
        heads = (self.num_heads, self.num_kv_heads, self.head_dim)
        if not self.uses_paged(inputs):
            self.ragged.plan(inputs.indptr, inputs.indptr, *heads, **common)
            return
        batch = inputs.indptr.shape[0] - 1
        if inputs.has_cached_prefix:  # keys: the cached prefix's pages, then the sequence's own rows
            kv_indptr, pages = inputs.kv_indptr, inputs.kv_pages
        else:  # a sequence's pages are its rows: page t is row t
            kv_indptr, pages = inputs.indptr, torch.arange(int(inputs.indptr[-1]), dtype=torch.int32)
        mis = {}
        if inputs.is_mis:
            mis = dict(
                prefix_len_ptr=inputs.prefix_len.to(self.device),
                token_pos_in_items_ptr=inputs.token_pos_in_items.to(self.device),
                token_pos_in_items_len=inputs.token_pos_in_items_len,
                max_item_len_ptr=inputs.max_item_len.to(self.device),
            )
        self.paged.plan(
            inputs.indptr,  # qo_indptr [B + 1]: the batch's rows
            kv_indptr,  # paged_kv_indptr [B + 1]: one page per key, cached ones included
            pages,  # paged_kv_indices [kv_indptr[-1]]
            torch.ones(batch, dtype=torch.int32),  # paged_kv_last_page_len [B]: every page is full
            *heads,
            1,  # page_size
            **mis,
            **common,
        )

    def run(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, inputs: FlashInferPlanInputs,
            prefix_kv: Optional[tuple[torch.Tensor, torch.Tensor]] = None) -> torch.Tensor:
        """q [T, Hq, D], k/v [T, Hkv, D] -> [T, Hq, D] with the last ``plan``; ``prefix_kv``: the cached
        prefixes' (k, v) [Tc, Hkv, D] that ``SequenceLayout.cached_start`` indexes."""
        if not self.uses_paged(inputs):
            return self.ragged.run(q, k, v)
        if inputs.has_cached_prefix:
            # [T + Tc, Hkv, D]: rows past T are the cached prefixes, as the plan's pages say.
            k, v = torch.cat([k, prefix_kv[0]]), torch.cat([v, prefix_kv[1]])
        else:
            # The paged run requires k and v with equal strides (batch_prefill.cu); a decoder's v is a
            # view into the fused qkv output, its k a new tensor out of rotary: one copy of v per layer.
            k, v = k.contiguous(), v.contiguous()
        # [rows, Hkv, D] -> [rows pages, 1 row, Hkv, D] (NHD pages); the kernels read through the strides.
        return self.paged.run(q, (k.unsqueeze(1), v.unsqueeze(1)))


def check_supported(device: torch.device, dtype: torch.dtype, head_dim: int) -> None:
    if device.type != "cuda":
        raise ValueError("the flashinfer attention backend needs a CUDA device (--device cuda)")
    if dtype not in (torch.bfloat16, torch.float16):
        raise ValueError("the flashinfer attention backend needs --dtype bfloat16 or float16")
    if head_dim not in SUPPORTED_HEAD_DIMS:
        raise ValueError(f"the flashinfer attention backend supports head_dim {SUPPORTED_HEAD_DIMS}, this model has {head_dim}; use --attention-backend torch")


class FlashInferAttentionBackend(AttentionBackend):
    name = "flashinfer"

    def __init__(self, device: torch.device, dtype: torch.dtype, num_heads: int, num_kv_heads: int, head_dim: int) -> None:
        super().__init__(device, dtype)
        check_supported(device, dtype, head_dim)
        try:
            import flashinfer
        except ImportError as e:
            raise ValueError(f"flashinfer is not installed (pip install -e '.[gpu]'): {e}") from None
        self.kernels = FlashInferKernels(flashinfer, device, dtype, num_heads, num_kv_heads, head_dim)
        self.fallback = TorchAttentionBackend(device, dtype, num_heads, num_kv_heads, head_dim)

    def build_metadata(self, layouts: list[SequenceLayout], causal: bool = True):
        inputs = build_plan_inputs(layouts, causal)
        if inputs.needs_fallback:
            return TorchFallbackMetadata(self.fallback.build_metadata(layouts, causal))
        return FlashInferMetadata(inputs)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, metadata, scale: float,
                softcap=None, window=None, prefix_kv=None, first_key_global: bool = False) -> torch.Tensor:
        """q [T, Hq, D], k/v [T, Hkv, D] (packed rows, NHD) -> [T, Hq, D]. ``window`` (and ``first_key_global``,
        which only widens it) is ignored: with this backend the context length stops at the window
        (attention_geometry.context_length_of), so it hides no key.
        ``prefix_kv``: the cached prefixes' (k, v) [Tc, Hkv, D] that ``SequenceLayout.cached_start`` indexes."""
        if softcap is not None:
            raise ValueError("attention soft-capping (Gemma2) is not wired into the FlashInfer backend yet: "
                             "serve this model with --attention-backend torch")
        if isinstance(metadata, TorchFallbackMetadata):
            return self.fallback.forward(q, k, v, metadata.metadata, scale, prefix_kv=prefix_kv)
        if not metadata.planned:  # once per batch: every layer reuses the plan
            self.kernels.plan(metadata.inputs, scale)
            metadata.planned = True
        return self.kernels.run(q, k, v, metadata.inputs, prefix_kv)
