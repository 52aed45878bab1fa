"""The transformer body's linear layers: one matmul for several stacked projections, and on CPU the
weights pre-packed in oneDNN's blocked layout.

Pre-packing (``pack_linears``) reorders each weight once, at start-up, into the layout oneDNN's
bf16 (AVX512-BF16 / AMX) and fp32 kernels read directly, instead of reordering it on every call; an
activation (GELU, ReLU) can run in the product's epilogue. Measured on a 2-core AVX512-BF16 EPYC at
MiniLM's shapes (8192 rows): bf16 +7..13 %, fp32 +6..45 % (benchmark/README.md). The kernels are
torch's own (``torch.ops.mkldnn``, what inductor uses when it freezes weights); a CPU build without
them, or a dtype they do not serve, keeps ``F.linear``. So does float32 on an AVX2-only CPU, where
torch's own GEMM is the faster one (``onednn_packing_problem``).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.layers.activation_quant import fake_quantize_per_token

# Activations an encoder's MLP may name: (oneDNN's post-op, its algorithm) -> the eager function.
EAGER_ACTIVATIONS = {
    ("none", ""): lambda x: x,
    ("gelu", "none"): F.gelu,  # exact (erf) GELU
    ("gelu", "tanh"): lambda x: F.gelu(x, approximate="tanh"),
    ("relu", ""): F.relu,
}
# A config's activation name (hidden_act, hidden_activation, ...) -> its key above.
HF_ACTIVATIONS = {
    "gelu": ("gelu", "none"),  # exact (erf) GELU, what BERT was trained with
    "gelu_new": ("gelu", "tanh"),
    "gelu_pytorch_tanh": ("gelu", "tanh"),
    "relu": ("relu", ""),
}
_PACKABLE_DTYPES = (torch.float32, torch.bfloat16)
_ROWS_HINT = 1024  # the batch rows oneDNN tunes the packed layout for; any row count runs
_STEPS_LOG2 = 4  # row buckets: 2**4 = 16 per power of two (bucket_rows)
_STEPS_PER_OCTAVE = 1 << _STEPS_LOG2


def bucket_rows(m: int) -> int:
    """The row count a packed product runs at: ``m`` rounded up to one of 16 steps per power of two
    (exact up to 32 rows; at most 1/16 more rows above).

    oneDNN builds and caches a kernel (a primitive, with its scratch memory) for every row count it
    meets; serving traffic meets hundreds of them. Measured on a tiny model, one linear layer per
    new row count cost ~0.4 ms and the process grew ~700 MiB after 2,000 batches of random sizes;
    buckets bound both (benchmark/README.md "Row buckets")."""
    if m <= 2 * _STEPS_PER_OCTAVE:
        return m
    step = 1 << (m.bit_length() - 1 - _STEPS_LOG2)
    return -(-m // step) * step


def pad_rows(rows: torch.Tensor) -> torch.Tensor:
    """[M, in] -> [bucket_rows(M), in], zero rows appended (``rows`` itself when M is a bucket).

    Only the appended rows are zeroed (``F.pad`` fills the whole buffer before copying: W1 bf16,
    4.8 ms of a 187 ms pass on an AMX Xeon)."""
    m = rows.shape[0]
    padded_m = bucket_rows(m)
    if padded_m == m:
        return rows
    out = rows.new_empty(padded_m, rows.shape[1])
    out[:m] = rows
    out[m:] = 0
    return out


def hf_activation(name: str, field: str = "hidden_act") -> tuple[str, str]:
    """The activation a config names (``field``), as a key of EAGER_ACTIVATIONS (and of oneDNN's post-ops)."""
    if name not in HF_ACTIVATIONS:
        raise ValueError(f"{field} {name!r} is not supported (one of {sorted(HF_ACTIVATIONS)})")
    return HF_ACTIVATIONS[name]


class Linear(nn.Linear):
    """``nn.Linear`` that can run from a oneDNN-packed copy of its weight, with a fused activation.

    Once packed, ``weight`` becomes a meta tensor of the same shape (the dense copy is freed: the
    packed one is the only storage), so nothing can read stale values by mistake.
    """

    packed_weight: Optional[torch.Tensor] = None
    int8_weight = None  # Optional[Int8Weight] (layers/int8_linear.py), with --quantization int8
    # Multiplies the checkpoint's weight and bias as they load: an output scale folded into the
    # product (Granite's residual multiplier), None for none.
    output_scale: Optional[float] = None
    # The checkpoint's rows in our order as they load (Qwen3-Next's projections grouped per key head),
    # None: as stored.
    load_row_order: Optional[torch.Tensor] = None
    # The checkpoint stores the weight [in, out] (GPT-2's Conv1D): transposed as it loads.
    load_transposed: bool = False
    # Low-rank task adapters chosen per sequence (layers/task_adapters.py: LinearTaskAdapters), None: none.
    task_adapters = None
    # A W8A8 checkpoint's activation quantization: ("float" / "int", None per token or a group size per
    # token's columns; layers/activation_quant.py), applied to the input first; None: none.
    input_quant: Optional[tuple[str, Optional[int]]] = None

    def forward(self, x: torch.Tensor, activation: tuple[str, str] = ("none", ""), keep_padding: bool = False
                ) -> torch.Tensor:
        """[..., in] -> [..., out], then ``activation`` (a key of EAGER_ACTIVATIONS).

        ``keep_padding`` (x [M, in]): a packed product returns all [bucket_rows(M), out] rows it
        computed (rows past M are the zero rows' outputs), so a row-wise op and the next product
        run at a bucket without padding again; other kernels return [M, out]."""
        if self.input_quant is not None:
            x = fake_quantize_per_token(x, *self.input_quant)
        if self.task_adapters is not None:  # x [T, in]: the adapters' terms join before the activation
            return EAGER_ACTIVATIONS[activation](self.task_adapters(x, self._product(x, ("none", ""), False)))
        return self._product(x, activation, keep_padding)

    def _product(self, x: torch.Tensor, activation: tuple[str, str], keep_padding: bool) -> torch.Tensor:
        if self.int8_weight is not None:
            return self.int8_weight(x, self.bias, activation)
        if self.packed_weight is not None:
            return self._packed_forward(x, activation, keep_padding)
        return EAGER_ACTIVATIONS[activation](F.linear(x, self.weight, self.bias))

    def _packed_forward(self, x: torch.Tensor, activation: tuple[str, str], keep_padding: bool) -> torch.Tensor:
        """The packed product at a bucketed row count (``bucket_rows``): zero rows pad [M, in] to
        [M', in], and the first M rows of [M', out] are returned."""
        rows = x.reshape(-1, self.in_features)
        out = torch.ops.mkldnn._linear_pointwise(pad_rows(rows), self.packed_weight, self.bias, activation[0], [],
                                                 activation[1])
        if keep_padding:
            return out
        return out[: rows.shape[0]].reshape(*x.shape[:-1], self.out_features)

    def pack(self) -> None:
        weight = self.weight.detach()
        self.packed_weight = torch.ops.mkldnn._reorder_linear_weight(weight, _ROWS_HINT)
        self._free_dense_weight()

    def quantize_int8(self) -> None:
        from multiscore.layers.int8_linear import Int8Weight

        self.int8_weight = Int8Weight(self.weight)
        self._free_dense_weight()

    def _free_dense_weight(self) -> None:
        self.weight = nn.Parameter(torch.empty_like(self.weight, device="meta"), requires_grad=False)


class FusedLinear(Linear):
    """``[q; k; v]`` or ``[gate; up]`` in one weight ``[sum(sizes), in]``.

    Checkpoints store the parts as separate tensors; a model names them in its
    ``packed_modules_mapping`` (checkpoint name -> (this layer, shard id)) and the loader hands each
    one to ``weight_loader``, which copies it into the shard's rows.
    """

    def __init__(self, in_features: int, shard_sizes: dict[Hashable, int], bias: bool) -> None:
        super().__init__(in_features, sum(shard_sizes.values()), bias=bias)
        self.shard_rows: dict[Hashable, slice] = {}
        start = 0
        for shard_id, size in shard_sizes.items():
            self.shard_rows[shard_id] = slice(start, start + size)
            start += size
        # A shard's checkpoint rows in our order as they load (the privacy filter's pair rotary), by shard id.
        self.shard_load_orders: dict[Hashable, torch.Tensor] = {}

    def weight_loader(self, param: nn.Parameter, loaded: torch.Tensor, shard_id: Hashable) -> None:
        rows = param.data[self.shard_rows[shard_id]]  # weight [rows, in] or bias [rows]
        if rows.shape != loaded.shape:
            raise ValueError(f"shape {tuple(loaded.shape)}, but shard {shard_id!r} of this layer is {tuple(rows.shape)}")
        order = self.shard_load_orders.get(shard_id)
        rows.copy_(loaded if order is None else loaded.index_select(0, order))


def cpu_capability() -> str:
    """The widest vector ISA torch dispatches to here: "AVX512" (AMX CPUs too), "AVX2", "DEFAULT", ..."""
    return torch.backends.cpu.get_cpu_capability()


def onednn_packing_problem(device: torch.device, dtype: torch.dtype) -> Optional[str]:
    """None when packed weights serve this device and dtype (checked on a small product); else why not."""
    if device.type != "cpu":
        return f"packed weights are a CPU layout (device {device.type})"
    if dtype not in _PACKABLE_DTYPES:
        return f"oneDNN packs float32 and bfloat16 weights, not {str(dtype).removeprefix('torch.')}"
    if not torch.backends.mkldnn.is_available():
        return "this torch build has no oneDNN"
    if dtype == torch.float32 and cpu_capability() == "AVX2":
        # oneDNN's AVX2 kernels run 0.86-0.91x torch's own fp32 GEMM at MiniLM's shapes, and W1's
        # MIS pass 0.90x (AVX2-only AMD EPYC; benchmark/README.md); AVX-512 CPUs gain 1.05-1.37x.
        return "float32 on an AVX2 CPU (no AVX-512): F.linear runs faster here than oneDNN's packed kernels"
    probe = Linear(16, 8).to(dtype)
    x = torch.randn(3, 16).to(dtype)
    with torch.no_grad():
        expected = probe(x)
        try:
            probe.pack()
            got = probe(x)
        except (RuntimeError, AttributeError) as e:
            return f"oneDNN's packed linear failed: {e}"
    if not torch.allclose(got.float(), expected.float(), rtol=1e-2, atol=1e-2):
        return "oneDNN's packed linear disagreed with F.linear"
    return None


def pack_linears(model: nn.Module, int8: bool = False) -> int:
    """Pack every ``Linear`` of ``model`` (the body's projections; heads are plain nn.Linear), as
    oneDNN's float layout or, with ``int8``, as int8 weights (layers/int8_linear.py). -> count."""
    layers = [m for m in model.modules() if isinstance(m, Linear)]
    with torch.no_grad():
        for layer in layers:
            layer.quantize_int8() if int8 else layer.pack()
    return len(layers)


def grouped_to_blocked(groups: int, parts: list[int]) -> torch.Tensor:
    """``Linear.load_row_order`` [part 0 of every group, part 1 of every group, ...] for rows stored group
    by group ([part 0, part 1, ...] of group 0, then of group 1, ...): Qwen3-Next's projections per key
    head, InternLM2's wqkv per kv head."""
    width, starts = sum(parts), [sum(parts[:i]) for i in range(len(parts))]
    # On the CPU even while the model is built on the meta device: the loader reads it.
    return torch.cat([torch.arange(g * width + start, g * width + start + size, device="cpu")
                      for start, size in zip(starts, parts) for g in range(groups)])
