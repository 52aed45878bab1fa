"""A CPU stand-in for the two FlashInfer prefill wrappers multiscore calls, in plain torch.

It follows FlashInfer's own source (0.5.3 and 0.7.2 alike), so that CPU tests exercise
multiscore's calls the way the real kernels would take them:
- the positional parameters of ``plan`` are the real ones, in the real order; the rest are
  keyword-only here, so an argument passed in the wrong slot fails;
- the ragged wrapper's ``run`` never selects the multi-item mask: it takes ``prefix_len_ptr`` and
  friends in ``plan`` but runs plain attention, causal or not as planned (prefill.py picks CAUSAL /
  NON_CAUSAL only);
- the paged wrapper's ``run`` selects ``MaskMode.MULTIITEMSCORING`` whenever ``prefix_len_ptr`` was
  planned, and applies the FA2 kernel's rule (``logits_mask_multi_item_scoring`` in prefill.cuh):
  a row i >= prefix_len at in-item position p sees keys k <= i with ``k < prefix_len or i < k + p``;
- a sequence may have more keys than rows (a cached prefix, paged): its rows are the last ones of
  its keys, row t being key ``t + kv_len - qo_len`` (``idx_in_original_seq`` in prefill.cuh), for
  the causal and the multi-item mask alike; ``prefix_len`` and ``token_pos_in_items`` count keys;
- the MIS tensors must be uint32 / uint16 on the device, as the kernels read them raw; the kernel
  reads ``token_pos_in_items[b * token_pos_in_items_len + i - prefix_len]`` for every key i past
  the prefix, so a sequence may not have more such keys than ``token_pos_in_items_len``;
- ``run`` refuses q or k of another dtype than planned (``_check_cached_qkv_data_type``); the paged
  indptr/indices/last-page lengths are int32 (FlashInfer's IdType), ``1 <= last_page_len <= page_size``.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

__version__ = "cpu-stand-in"


def multi_item_mask(length: int, prefix_len: int, token_pos: list[int]) -> torch.Tensor:
    """FlashInfer's multi-item rule for one sequence: [length, length] bool (row attends to column)."""
    mask = torch.zeros(length, length, dtype=torch.bool)
    for i in range(length):
        for k in range(i + 1):  # causal bound
            if i < prefix_len:
                mask[i, k] = True
            else:
                p = token_pos[i - prefix_len]
                mask[i, k] = k < prefix_len or i < k + p
    return mask


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor, scale: float) -> torch.Tensor:
    """q [Lq, Hq, D], k/v [Lk, Hkv, D], mask [Lq, Lk] -> [Lq, Hq, D]; rows with no key give 0."""
    group = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    logits = torch.einsum("qhd,khd->hqk", q.float(), k.float()) * scale
    logits = logits.masked_fill(~mask, float("-inf"))
    probs = torch.softmax(logits, dim=-1).nan_to_num(0.0)
    return torch.einsum("hqk,khd->qhd", probs, v.float()).to(q.dtype)


class _Wrapper:
    def __init__(self, float_workspace_buffer: torch.Tensor, kv_layout: str = "NHD", *, backend: str = "auto") -> None:
        if kv_layout != "NHD":
            raise ValueError("the stand-in implements the NHD layout only")
        self.device = float_workspace_buffer.device
        self.backend = backend
        self.plan_calls: list[dict] = []

    def _plan(self, qo_indptr, kv_lens, heads, causal, sm_scale, q_data_type, kv_data_type, prefix_len_ptr,
              token_pos_in_items_ptr, token_pos_in_items_len, max_item_len_ptr):
        if qo_indptr.dtype != torch.int32:
            raise TypeError("qo_indptr must be int32")
        batch = qo_indptr.shape[0] - 1
        qo_lens = (qo_indptr[1:] - qo_indptr[:-1]).tolist()
        if len(kv_lens) != batch or any(q > k for q, k in zip(qo_lens, kv_lens)):
            raise ValueError(f"rows per sequence {qo_lens} must not exceed keys per sequence {kv_lens}")
        mis = None
        if prefix_len_ptr is not None:
            for name, t, dtype, n in (("prefix_len_ptr", prefix_len_ptr, torch.uint32, batch),
                                      ("token_pos_in_items_ptr", token_pos_in_items_ptr, torch.uint16, batch * token_pos_in_items_len),
                                      ("max_item_len_ptr", max_item_len_ptr, torch.uint16, batch)):
                if t.dtype != dtype or t.device != self.device or t.numel() != n:
                    raise ValueError(f"{name}: want {n} x {dtype} on {self.device}, got {t.numel()} x {t.dtype} on {t.device}")
            mis = (prefix_len_ptr.to(torch.int64).tolist(),
                   token_pos_in_items_ptr.to(torch.int32).view(batch, token_pos_in_items_len).tolist())
            past_prefix = [k - p for k, p in zip(kv_lens, mis[0])]
            if max(past_prefix) > token_pos_in_items_len:
                raise ValueError(f"keys past the prefix {past_prefix} exceed token_pos_in_items_len {token_pos_in_items_len}")
        self.qo_indptr = qo_indptr.tolist()
        self.kv_lens = kv_lens
        self.heads, self.causal, self.q_data_type, self.mis = heads, causal, q_data_type, mis
        self.kv_data_type = kv_data_type if kv_data_type is not None else q_data_type
        self.sm_scale = sm_scale if sm_scale is not None else 1.0 / math.sqrt(heads[2])
        self.plan_calls.append(dict(batch=batch, causal=causal, mis=mis is not None, token_pos_in_items_len=token_pos_in_items_len))

    def _run(self, q: torch.Tensor, k_data: torch.Tensor, keys_of, use_mis: bool) -> torch.Tensor:
        """k_data: the keys passed to ``run``; keys_of(b) -> (k [Lk, Hkv, D], v [Lk, Hkv, D]) of sequence b."""
        if q.dtype != self.q_data_type or q.shape[1:] != (self.heads[0], self.heads[2]):
            raise ValueError(f"q {tuple(q.shape)} {q.dtype} does not match the plan")
        if q.shape[0] != self.qo_indptr[-1]:
            raise ValueError(f"q has {q.shape[0]} rows, the plan {self.qo_indptr[-1]}")
        if k_data.dtype != self.kv_data_type or k_data.shape[-2:] != (self.heads[1], self.heads[2]):
            raise ValueError(f"k {tuple(k_data.shape)} {k_data.dtype} does not match the plan")
        out = torch.empty_like(q)
        for b in range(len(self.qo_indptr) - 1):
            lo, hi = self.qo_indptr[b], self.qo_indptr[b + 1]
            k, v = keys_of(b)
            qo_len, kv_len = hi - lo, k.shape[0]
            if use_mis and self.mis is not None:
                prefix, token_pos = self.mis[0][b], self.mis[1][b]
                mask = multi_item_mask(kv_len, prefix, token_pos)[kv_len - qo_len:]
            elif self.causal:  # rows aligned to the end of the keys
                mask = torch.ones(qo_len, kv_len, dtype=torch.bool).tril(kv_len - qo_len)
            else:  # MaskMode.NON_CAUSAL: every key
                mask = torch.ones(qo_len, kv_len, dtype=torch.bool)
            out[lo:hi] = _attend(q[lo:hi], k, v, mask, self.sm_scale)
        return out


class BatchPrefillWithRaggedKVCacheWrapper(_Wrapper):
    def plan(self, qo_indptr, kv_indptr, num_qo_heads, num_kv_heads, head_dim_qk, *, causal=False, sm_scale=None,
             q_data_type="float16", kv_data_type=None, prefix_len_ptr=None, token_pos_in_items_ptr=None,
             token_pos_in_items_len=0, max_item_len_ptr=None) -> None:
        self.kv_indptr = kv_indptr.tolist()
        kv_lens = [b - a for a, b in zip(self.kv_indptr, self.kv_indptr[1:])]
        self._plan(qo_indptr, kv_lens, (num_qo_heads, num_kv_heads, head_dim_qk), causal, sm_scale, q_data_type,
                   kv_data_type, prefix_len_ptr, token_pos_in_items_ptr, token_pos_in_items_len, max_item_len_ptr)

    def run(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        def keys_of(b):
            return k[self.kv_indptr[b] : self.kv_indptr[b + 1]], v[self.kv_indptr[b] : self.kv_indptr[b + 1]]

        return self._run(q, k, keys_of, use_mis=False)  # the real ragged run never picks the MIS mask


class BatchPrefillWithPagedKVCacheWrapper(_Wrapper):
    def plan(self, qo_indptr, paged_kv_indptr, paged_kv_indices, paged_kv_last_page_len, num_qo_heads, num_kv_heads,
             head_dim_qk, page_size, *, causal=False, sm_scale=None, q_data_type="float16", kv_data_type=None,
             prefix_len_ptr=None, token_pos_in_items_ptr=None, token_pos_in_items_len=0,
             max_item_len_ptr: Optional[torch.Tensor] = None) -> None:
        for name, t in (("paged_kv_indptr", paged_kv_indptr), ("paged_kv_indices", paged_kv_indices),
                        ("paged_kv_last_page_len", paged_kv_last_page_len)):
            if t.dtype != torch.int32:
                raise TypeError(f"{name} must be int32")
        if paged_kv_indices.shape[0] < int(paged_kv_indptr[-1]):
            raise ValueError(f"paged_kv_indices has {paged_kv_indices.shape[0]} pages, paged_kv_indptr ends at {int(paged_kv_indptr[-1])}")
        self.page_size = page_size
        self.pages = [paged_kv_indices[a:b].tolist() for a, b in zip(paged_kv_indptr.tolist(), paged_kv_indptr[1:].tolist())]
        last = paged_kv_last_page_len.tolist()
        # get_seq_lens (page.py): (pages - 1) * page_size + last_page_len, so a sequence without a page
        # would still read last_page_len keys: refused here.
        if any(not p or not 1 <= n <= page_size for p, n in zip(self.pages, last)):
            raise ValueError(f"every sequence needs a page and 1 <= last_page_len <= {page_size}: {last}")
        kv_lens = [(len(p) - 1) * page_size + n for p, n in zip(self.pages, last)]
        self._plan(qo_indptr, kv_lens, (num_qo_heads, num_kv_heads, head_dim_qk), causal, sm_scale, q_data_type,
                   kv_data_type, prefix_len_ptr, token_pos_in_items_ptr, token_pos_in_items_len, max_item_len_ptr)

    def run(self, q: torch.Tensor, paged_kv_cache: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        k_cache, v_cache = paged_kv_cache  # [pages, page_size, Hkv, D] each (NHD)
        if k_cache.dim() != 4 or k_cache.shape[1] != self.page_size:
            raise ValueError(f"paged cache {tuple(k_cache.shape)} does not match page_size {self.page_size}")
        # batch_prefill.cu (BatchPrefillWithPagedKVCacheRun) checks these before any kernel runs.
        for i, (a, b) in enumerate(zip(k_cache.stride(), v_cache.stride())):
            if a != b:
                raise ValueError(f"k/v strides differs at {i}")
        if k_cache.stride(-1) != 1 or v_cache.stride(-1) != 1:
            raise ValueError("the last dimension of the paged k/v cache must be contiguous")

        def keys_of(b):
            idx = torch.tensor(self.pages[b], dtype=torch.long)
            if len(idx) and int(idx.max()) >= k_cache.shape[0]:
                raise IndexError(f"sequence {b} reads page {int(idx.max())} of {k_cache.shape[0]}")
            n = self.kv_lens[b]
            return k_cache[idx].flatten(0, 1)[:n], v_cache[idx].flatten(0, 1)[:n]

        return self._run(q, k_cache, keys_of, use_mis=True)
