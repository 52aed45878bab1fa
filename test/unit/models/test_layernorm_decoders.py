"""The LayerNorm decoders against transformers, single-item and MIS. StableLM: biased LayerNorms (perturbed),
biased q/k/v, rotary on a quarter of each head, both block layouts (sequential; one LayerNorm feeding
attention and MLP in parallel); qk_layernorm refused. StarCoder2: biased projections, a 4-position window, a
plain GELU MLP. Nemotron: 1 + w LayerNorms, squared ReLU, rotary on half of each head. OLMo: weightless
LayerNorms (with biased attention here), q/k/v clamped by clip_qkv."""

import pytest

from worker_batches import assert_both_ways_equal_transformers, worker


@pytest.mark.parametrize("head", ["causal", "seqcls"])
@pytest.mark.parametrize("parallel", [False, True], ids=["sequential", "parallel"])
def test_stablelm_equals_transformers_single_item_and_mis(tiny_model, head, parallel):
    path = tiny_model("stablelm", head, use_parallel_residual=parallel)
    w = worker(path)
    layer = w.model.model.layers[0]
    assert type(layer).__name__ == ("ParallelLayer" if parallel else "SequentialLayer")
    assert layer.input_layernorm.bias is not None and layer.self_attn.qkv_proj.bias is not None
    for seed in (3, 8):
        assert_both_ways_equal_transformers(path, head, seed=seed, w=w)


def test_stablelms_per_head_qk_layernorm_is_refused(tiny_model):
    with pytest.raises(ValueError, match="qk_layernorm .* is not supported"):
        worker(tiny_model("stablelm", "causal", qk_layernorm=True))


@pytest.mark.parametrize("arch, head", [("starcoder2", "causal"), ("starcoder2", "seqcls"), ("nemotron", "causal"),
                                        ("nemotron", "seqcls"), ("olmo", "causal"), ("olmo", "seqcls")])
def test_starcoder2_and_nemotron_equal_transformers_single_item_and_mis(tiny_model, arch, head):
    path = tiny_model(arch, head)
    w = worker(path)
    layer = w.model.model.layers[0]
    assert type(layer.input_layernorm).__name__ == {"nemotron": "LayerNorm1P", "olmo": "PlainLayerNorm"}.get(arch, "LayerNorm")
    if arch == "starcoder2":
        assert layer.self_attn.window == 4 and layer.self_attn.o_proj.bias is not None
    for seed in (3, 8):
        assert_both_ways_equal_transformers(path, head, seed=seed, w=w)


def test_olmos_clip_qkv_equals_transformers(tiny_model):
    """q, k and v clamped to ±clip_qkv (0.3 here: many of them are clamped)."""
    path = tiny_model("olmo", "causal", clip_qkv=0.3)
    w = worker(path)
    assert w.model.model.layers[0].self_attn.clip_qkv == 0.3
    assert_both_ways_equal_transformers(path, "causal", seed=3, w=w)


def test_jais2_equals_transformers_single_item_and_mis(tiny_model):
    """Jais 2: biased Llama attention, Nemotron's squared-ReLU MLP (biased), LayerNorms."""
    path = tiny_model("jais2", "causal")
    w = worker(path)
    layer = w.model.model.layers[0]
    assert type(layer.input_layernorm).__name__ == "LayerNorm" and layer.mlp.up_proj.bias is not None
    for seed in (3, 8):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)


def test_nanochat_equals_transformers_single_item_and_mis(tiny_model):
    """nanochat: weightless norms (the embeddings normed too), q/k normed after rotary, a relu² MLP, soft-capped logits."""
    path = tiny_model("nanochat", "causal")
    w = worker(path)
    assert w.model.model.layers[0].self_attn.q_norm.weight is None
    for seed in (2, 5):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)


def test_dbrx_equals_transformers_single_item_and_mis(tiny_model):
    """DBRX: bias-free LayerNorms, one fused Wqkv clamped to ±0.5, experts stored as [E·I, H] tensors."""
    path = tiny_model("dbrx", "causal")
    w = worker(path)
    assert type(w.model.model.layers[0].mlp).__name__ == "DbrxExperts"
    for seed in (2, 5):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)
