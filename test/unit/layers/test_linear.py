"""Linear with oneDNN-packed weights: the same products (and fused activations) as F.linear; the
probe that decides whether packing serves a device and dtype; the worker packing its body."""

import pytest
import torch
import torch.nn.functional as F

from multiscore.layers import linear
from multiscore.layers.linear import FusedLinear, Linear, bucket_rows, onednn_packing_problem, pack_linears
from multiscore.model_executor import model_worker
from worker_batches import mixed_inputs, score_both_ways, worker
from hf_reference import assert_scores_close, hf_scores

needs_onednn = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="torch built without oneDNN")


def _packing_error(dtype: torch.dtype):
    """None when oneDNN packs ``dtype`` weights on this CPU (bf16 needs AVX-512 or AVX-NE-CONVERT)."""
    try:
        Linear(16, 8).to(dtype).pack()
    except RuntimeError as e:
        return str(e)
    return None


BF16_PACKING_ERROR = _packing_error(torch.bfloat16) if torch.backends.mkldnn.is_available() else None

EAGER = {
    ("none", ""): lambda x: x,
    ("gelu", "none"): F.gelu,
    ("gelu", "tanh"): lambda x: F.gelu(x, approximate="tanh"),
    ("relu", ""): F.relu,
}


@needs_onednn
@pytest.mark.parametrize("dtype, tol", [
    (torch.float32, 1e-5),
    pytest.param(torch.bfloat16, 2e-2, marks=pytest.mark.skipif(BF16_PACKING_ERROR is not None,
                                                                reason=f"no bf16 packing here: {BF16_PACKING_ERROR}")),
])
@pytest.mark.parametrize("activation", list(EAGER))
@pytest.mark.parametrize("rows", [1, 5, 37, 1500])  # 37 and 1500 run padded (to 38, 1536)
def test_packed_equals_f_linear(dtype, tol, activation, rows):
    torch.manual_seed(0)
    layer = Linear(48, 80).to(dtype)
    weight, bias = layer.weight.detach().clone(), layer.bias.detach().clone()
    x = torch.randn(rows, 48).to(dtype)
    with torch.no_grad():
        eager = layer(x, activation)
        layer.pack()
        packed = layer(x, activation)
    expected = EAGER[activation](F.linear(x.float(), weight.float(), bias.float()))
    assert packed.shape == (rows, 80) and packed.dtype == dtype
    assert (packed.float() - expected).abs().max().item() <= tol * max(1.0, expected.abs().max().item())
    assert (eager.float() - expected).abs().max().item() <= tol * max(1.0, expected.abs().max().item())
    assert layer.weight.is_meta and layer.weight.shape == (80, 48)  # the dense copy is freed


def test_row_buckets_are_few_and_pad_at_most_a_sixteenth():
    buckets = [bucket_rows(m) for m in range(1, 16385)]
    assert buckets[:32] == list(range(1, 33))  # exact up to 32 rows
    assert all(m <= b <= m * 17 / 16 for m, b in zip(range(1, 16385), buckets))
    assert buckets == sorted(buckets) and len(set(buckets)) == 176  # kernels oneDNN builds per weight shape
    assert [bucket_rows(m) for m in (33, 1857, 9300, 16384)] == [34, 1920, 9728, 16384]


@needs_onednn
def test_padding_rows_moves_no_row():
    torch.manual_seed(0)
    layer = Linear(48, 80)
    layer.pack()
    x = torch.randn(3, 40, 48)  # 120 rows: a bucket; 117 rows pad to 120
    with torch.no_grad():
        whole, part = layer(x), layer(x.reshape(120, 48)[:117])
    assert whole.shape == (3, 40, 80) and part.shape == (117, 80)
    assert torch.equal(whole.reshape(120, 80)[:117], part)


@needs_onednn
def test_keep_padding_returns_the_bucket_rows_with_zero_rows_as_bias():
    """``keep_padding``: [bucket_rows(M), out]; the first M rows are the plain product's, the
    appended rows are what zero rows give (the bias), even from a buffer that held other values."""
    torch.manual_seed(0)
    layer = Linear(48, 80)
    layer.pack()
    x = torch.randn(37, 48)
    with torch.no_grad():
        layer(torch.randn(38, 48) * 1e3)  # a prior call of the same bucket leaves memory behind
        plain, kept = layer(x), layer(x, keep_padding=True)
    assert kept.shape == (38, 80) and bucket_rows(37) == 38
    assert torch.equal(kept[:37], plain)
    torch.testing.assert_close(kept[37], layer.bias.detach())
    with torch.no_grad():
        assert layer(torch.randn(38, 48), keep_padding=True).shape == (38, 80)  # a bucket: no padding


@needs_onednn
def test_packed_fused_linear_keeps_its_shards_and_reads_views():
    torch.manual_seed(1)
    layer = FusedLinear(32, {"q": 32, "k": 16, "v": 16}, bias=False)
    weight = layer.weight.detach().clone()
    x = torch.randn(10, 64)[:, :32]  # a strided view, as o_proj receives
    with torch.no_grad():
        layer.pack()
        out = layer(x)
    torch.testing.assert_close(out, F.linear(x, weight), rtol=1e-5, atol=1e-5)
    assert layer.shard_rows["k"] == slice(32, 48)


def test_packing_problem_names_the_reason():
    assert "CPU layout" in onednn_packing_problem(torch.device("cuda"), torch.bfloat16)
    assert "not float16" in onednn_packing_problem(torch.device("cpu"), torch.float16)
    if torch.backends.mkldnn.is_available() and linear.cpu_capability() == "AVX512":
        assert onednn_packing_problem(torch.device("cpu"), torch.float32) is None
        assert onednn_packing_problem(torch.device("cpu"), torch.bfloat16) is None
    if BF16_PACKING_ERROR is not None:  # an AVX2 CPU: the probe's own error, named
        assert onednn_packing_problem(torch.device("cpu"), torch.bfloat16) == (
            f"oneDNN's packed linear failed: {BF16_PACKING_ERROR}")


@needs_onednn
def test_float32_on_an_avx2_cpu_keeps_f_linear(monkeypatch):
    """There torch's own GEMM outruns oneDNN's packed kernels (benchmark/README.md)."""
    monkeypatch.setattr(linear, "cpu_capability", lambda: "AVX2")
    assert onednn_packing_problem(torch.device("cpu"), torch.float32) == (
        "float32 on an AVX2 CPU (no AVX-512): F.linear runs faster here than oneDNN's packed kernels")
    monkeypatch.setattr(linear, "cpu_capability", lambda: "AVX512")
    assert onednn_packing_problem(torch.device("cpu"), torch.float32) is None


@needs_onednn
def test_pack_linears_packs_the_body_not_the_heads():
    body, head = Linear(8, 8), torch.nn.Linear(8, 2)
    model = torch.nn.Sequential(body, FusedLinear(8, {"a": 4, "b": 4}, bias=True), head)
    assert pack_linears(model) == 2
    assert body.packed_weight is not None and not head.weight.is_meta


@needs_onednn
def test_worker_packs_its_linears_on_cpu(tiny_model, monkeypatch):
    monkeypatch.setattr(linear, "cpu_capability", lambda: "AVX512")  # packed float32 on an AVX2 CPU too
    path = tiny_model("qwen3", "seqcls")
    w = worker(path)
    assert w.linear_kernel.startswith("oneDNN packed weights (")
    layers = [m for m in w.model.modules() if isinstance(m, Linear)]
    assert layers and all(m.packed_weight is not None for m in layers)


def test_worker_without_packing_serves_f_linear_with_the_same_scores(tiny_model, monkeypatch):
    monkeypatch.setattr(model_worker, "onednn_packing_problem", lambda device, dtype: "switched off for this test")
    path = tiny_model("llama", "seqcls")
    w = worker(path)
    assert w.linear_kernel == "torch F.linear (switched off for this test)"
    query, items = mixed_inputs(seed=3)
    single, mis = score_both_ways(w, query, items, None)
    ref = hf_scores(path, query, items, None)
    assert_scores_close(single, ref)
    assert_scores_close(mis, ref)
