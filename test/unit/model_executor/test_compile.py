"""--compile: which models and dtypes compile, that compiled scores equal transformers (fp32 to 1e-4),
that no request recompiles after the start-up warm-up, and that a failed compilation serves eager."""

import pytest
import torch

from hf_reference import assert_scores_close, hf_scores
from multiscore.layers.fused_ops import EAGER, FusedOps
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from multiscore.model_executor.compile import compile_decision
from worker_batches import mixed_inputs, score_both_ways, worker


class _Decoder:
    def use_fused_ops(self, ops):
        pass


def test_auto_compiles_16_bit_decoders_on_cpu_only():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert compile_decision("auto", cpu, torch.bfloat16, _Decoder()) == (True, "auto: bfloat16 on CPU")
    assert compile_decision("auto", cpu, torch.float16, _Decoder())[0]
    assert compile_decision("auto", cpu, torch.float32, _Decoder()) == (False, "auto: float32 gains nothing from the fused ops")
    assert compile_decision("auto", cuda, torch.bfloat16, _Decoder()) == (False, "auto: the compiled path is measured on CPU only")
    assert compile_decision("on", cpu, torch.float32, _Decoder()) == (True, "--compile on")
    assert compile_decision("off", cpu, torch.bfloat16, _Decoder()) == (False, "--compile off")
    encoder = object()  # no use_fused_ops: nothing to compile, whatever the mode
    assert compile_decision("on", cpu, torch.bfloat16, encoder) == (
        False, "this model has no fused element-wise ops (encoders run eager)")


@pytest.mark.parametrize("arch, head", [("qwen3", "seqcls"), ("llama", "causal"), ("gemma", "causal"), ("gemma2", "seqcls")])
def test_compiled_float32_equals_transformers(tiny_model, arch, head):
    path = tiny_model(arch, head)
    labels = [5, 17, 30] if head == "causal" else None
    query, items = mixed_inputs(seed=5)
    w = worker(path, compile="on", dtype="float32")
    assert w.compile.compiled and w.compile.reason == "--compile on"
    assert w.model.model.ops.compiled
    single, mis = score_both_ways(w, query, items, labels)
    ref = hf_scores(path, query, items, labels)
    assert_scores_close(single, ref)
    assert_scores_close(mis, ref)


def test_no_request_recompiles_after_the_warm_up(tiny_model):
    from torch._dynamo.utils import counters

    path = tiny_model("qwen3", "seqcls")
    w = worker(path, compile="on", dtype="bfloat16")
    graphs = counters["stats"]["unique_graphs"]
    w.forward([ScoreSequence("one token", [5], 0, 1, PoolingParams())])  # T = 1 (compile specialises 1)
    w.forward([ScoreSequence("one read-out", [5, 6, 7, 8], 0, 1, PoolingParams())])  # R = 1 < T
    for seed, n in ((7, 2), (8, 13)):  # MIS and single-item sequences, batches of many sizes
        query, items = mixed_inputs(seed=seed, n_items=n)
        score_both_ways(w, query, items, None)
    score_both_ways(w, [5, 6, 7], [[8] * 16, [9] * 16], None)  # MIS items that fill their blocks: no padding
    assert counters["stats"]["unique_graphs"] == graphs
    assert w.model.model.ops.compiled and w.backend.merge_items is w.model.model.ops.mis_merge


def test_a_failed_compilation_serves_eager_with_the_reason(tiny_model, monkeypatch, caplog):
    import multiscore.model_executor.compile as compile_module

    def no_compiler(*args, **kwargs):
        raise RuntimeError("no working C++ compiler found\ndetails")

    broken = FusedOps(rms_norm=no_compiler, add_rms_norm=no_compiler, silu_mul=no_compiler, gelu_tanh_mul=no_compiler,
                      norm_rotary=no_compiler, mis_merge=no_compiler, compiled=True)
    monkeypatch.setattr(compile_module, "compiled_ops", lambda: broken)
    path = tiny_model("qwen3", "seqcls")
    with caplog.at_level("WARNING", logger="multiscore.model_executor.compile"):
        w = worker(path, compile="on", dtype="float32")
    reason = "compilation failed, running eager: RuntimeError: no working C++ compiler found"
    assert not w.compile.compiled and w.compile.reason == reason
    assert w.model.model.ops is EAGER
    assert w.backend.merge_items is EAGER.mis_merge
    assert reason in caplog.text
    query, items = mixed_inputs(seed=9)
    single, mis = score_both_ways(w, query, items, None)
    ref = hf_scores(path, query, items, None)
    assert_scores_close(single, ref)
    assert_scores_close(mis, ref)


def test_encoders_are_served_eager_even_with_compile_on(tiny_model):
    w = worker(tiny_model("bert", "seqcls"), compile="on")
    assert not w.compile.compiled
    assert w.compile.reason == "this model has no fused element-wise ops (encoders run eager)"
