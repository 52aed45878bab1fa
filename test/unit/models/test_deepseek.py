"""The DeepSeek-V2/V3 family (DeepSeek-V2, DeepSeek-V3, GLM-4.7-Flash, Mistral Small 4, DeepSeek-V3.2 and
GLM-5 below their sparse attention's top-k, and V3's experts
behind grouped-query attention: GLM-4.5, dots.llm1, Solar Open) against
transformers, single-item and MIS: multi-head latent attention with its rope part over interleaved pairs
(and without, where ``rope_interleave`` is false), yarn rotary and softmax scale, a dense first layer,
then experts beside a shared one, chosen within groups (V2: by each group's best expert; V3: by its two
best, after a perturbed correction bias; Mistral Small 4: softmax in the model's dtype) and Llama 4's
query temperature (Mistral Small 4, from position 8 here). Each router is also checked against
transformers' own router on the same weights, for every routing method."""

import pytest
import torch

from worker_batches import (
    assert_both_ways_equal_transformers,
    assert_prefix_cache_scores_as_uncached,
    mixed_inputs,
    worker,
)

CASES = [("deepseek_v2", "causal", {}), ("deepseek_v2", "seqcls", {}), ("deepseek_v3", "causal", {}),
         ("deepseek_v3", "seqcls", {}), ("deepseek_v3", "causal", {"rope_interleave": False}),
         ("mistral4", "causal", {}), ("mistral4", "seqcls", {}), ("glm4_moe_lite", "causal", {}),
         ("deepseek_v32", "causal", {}), ("glm_moe_dsa", "causal", {})]


@pytest.mark.parametrize("arch", ["deepseek_v32", "glm_moe_dsa"])
def test_sparse_attention_models_stop_where_their_indexer_would_hide_keys(tiny_model, arch):
    """DeepSeek Sparse Attention picks each token's top index_topk keys (128 here): below that many it picks
    them all, which is dense attention (checked against transformers running its indexer above); the
    context stops there and a longer one is refused with the reason. The indexer's weights are not read."""
    from safetensors.torch import load_file

    path = tiny_model(arch, "causal")
    assert any(".self_attn.indexer." in name for name in load_file(str(path / "model.safetensors")))
    assert worker(path).model_config.context_length == 128
    with pytest.raises(ValueError, match=r"exceeds the model's sparse attention's top-k \(index_topk\) of 128 tokens"):
        worker(path, context_length=256)


def test_youtu_equals_transformers_single_item_and_mis(tiny_model):
    """Youtu-LLM: DeepSeek-V3's latent attention (rope over interleaved pairs) with a dense MLP in every layer."""
    path = tiny_model("youtu", "causal")
    w = worker(path)
    assert {type(layer.mlp).__name__ for layer in w.model.model.layers} == {"GatedMLP"}
    assert {type(layer.self_attn).__name__ for layer in w.model.model.layers} == {"LatentAttention"}
    for seed in (3, 8):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)


# DeepSeek-V3's experts behind grouped-query attention (GLM-4.5): its own attention
GQA_CASES = [("glm4_moe", "causal", {}), ("glm4_moe", "causal", {"use_qk_norm": False, "partial_rotary_factor": 1.0}),
             ("dots1", "causal", {}), ("solar_open", "causal", {}), ("minicpm5_moe", "causal", {})]
GQA_MLPS = {"solar_open": ["DeepseekMoeBlock"] * 3}  # every layer sparse; the others a dense first one


@pytest.mark.parametrize("arch, head, kw", CASES, ids=[f"{a}-{h}{'-' + '-'.join(kw) if kw else ''}" for a, h, kw in CASES])
def test_equals_transformers_single_item_and_mis(tiny_model, arch, head, kw):
    path = tiny_model(arch, head, **kw)
    w = worker(path)
    layers = w.model.model.layers
    assert [type(layer.mlp).__name__ for layer in layers] == ["GatedMLP", "DeepseekMoeBlock", "DeepseekMoeBlock"]
    assert {type(layer.self_attn).__name__ for layer in layers} == {"LatentAttention"}
    interleaved = kw.get("rope_interleave", True)
    assert (layers[0].self_attn.kv_a_proj_with_mqa.load_row_order is not None) is interleaved
    for seed in (3, 8):
        assert_both_ways_equal_transformers(path, head, seed=seed, w=w)


@pytest.mark.parametrize("arch, head, kw", GQA_CASES, ids=["glm4_moe", "glm4_moe-no-qk-norm-full-rotary", "dots1", "solar_open", "minicpm5_moe"])
def test_deepseek_experts_behind_grouped_query_attention_equal_transformers(tiny_model, arch, head, kw):
    path = tiny_model(arch, head, **kw)
    w = worker(path)
    layers = w.model.model.layers
    assert [type(layer.mlp).__name__ for layer in layers] == GQA_MLPS.get(arch, ["GatedMLP"] + ["DeepseekMoeBlock"] * 2)
    assert hasattr(layers[0].self_attn, "q_norm") is (arch not in ("solar_open", "minicpm5_moe") and kw.get("use_qk_norm", True))
    assert layers[0].self_attn.gate_in_query is (arch == "minicpm5_moe")  # MiniCPM5: q_proj holds a gate per dimension
    if arch == "dots1":
        assert [layer.self_attn.window for layer in layers] == [None, None, 4]
    for seed in (3, 8):
        assert_both_ways_equal_transformers(path, head, seed=seed, w=w)


def test_interleaved_rope_rows_load_evens_then_odds():
    from multiscore.models.latent_attention import rope_pairs_first

    # two heads of [nope 3 | rope 4]: each head's rope rows 0, 2, 1, 3 after its nope rows
    assert rope_pairs_first(2, 7, 4).tolist() == [0, 1, 2, 3, 5, 4, 6, 7, 8, 9, 10, 12, 11, 13]


def _routers():
    """(name, transformers' router class, config) for every routing method."""
    import transformers
    from transformers.models.deepseek_v2.modeling_deepseek_v2 import DeepseekV2TopkRouter
    from transformers.models.deepseek_v3.modeling_deepseek_v3 import DeepseekV3TopkRouter
    from transformers.models.mistral4.modeling_mistral4 import Mistral4TopkRouter

    shape = dict(hidden_size=32, n_routed_experts=8, num_experts_per_tok=3, n_group=4, topk_group=2,
                 routed_scaling_factor=2.5)
    return [
        # V2 reads no norm_topk_prob: set, it must still not renormalise
        ("v2-greedy", DeepseekV2TopkRouter, transformers.DeepseekV2Config(**shape, topk_method="greedy", norm_topk_prob=True)),
        ("v2-group", DeepseekV2TopkRouter, transformers.DeepseekV2Config(**shape, topk_method="group_limited_greedy")),
        ("v3", DeepseekV3TopkRouter, transformers.DeepseekV3Config(**shape, norm_topk_prob=True)),
        ("v3-unnormalised", DeepseekV3TopkRouter, transformers.DeepseekV3Config(**shape, norm_topk_prob=False)),
        ("mistral4", Mistral4TopkRouter, transformers.Mistral4Config(**shape, norm_topk_prob=True)),
    ]


@pytest.mark.parametrize("index", range(5), ids=["v2-greedy", "v2-group", "v3", "v3-unnormalised", "mistral4"])
def test_each_router_chooses_and_weighs_as_transformers(index):
    from multiscore.models.deepseek import DeepseekRouter

    name, reference_class, config = _routers()[index]
    torch.manual_seed(index)
    reference = reference_class(config)
    with torch.no_grad():
        reference.weight.normal_()
        if hasattr(reference, "e_score_correction_bias"):
            reference.e_score_correction_bias.normal_(std=0.5)
    ours = DeepseekRouter(config, sigmoid=name.startswith("v3"), float32=name != "mistral4")
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(64, 32)
    _, expected_weights, expected_experts = reference(x)
    weights, experts = ours(x)
    # transformers picks without sorting: compare each token's (expert, weight) pairs in expert order
    order, expected_order = experts.argsort(dim=-1), expected_experts.argsort(dim=-1)
    assert torch.equal(experts.gather(1, order), expected_experts.gather(1, expected_order))
    torch.testing.assert_close(weights.gather(1, order), expected_weights.gather(1, expected_order), atol=1e-6, rtol=0)
    if name == "v2-group":  # the groups matter: the plain top 3 differs for some tokens
        plain = torch.softmax(x @ reference.weight.T, -1).topk(3).indices.sort().values
        assert not torch.equal(plain, experts.sort().values)


def test_routers_keep_float32_weights_in_a_bfloat16_model_which_scores_as_transformers_bf16(tiny_model):
    path = tiny_model("deepseek_v3", "causal")
    w = worker(path, dtype="bfloat16")
    gate = w.model.model.layers[1].mlp.gate
    assert gate.weight.dtype == torch.float32 and gate.e_score_correction_bias.dtype == torch.float32
    assert w.model.model.embed_tokens.weight.dtype == torch.bfloat16
    # and the bf16 scores, single-item and MIS, stay near transformers run in bf16 (label softmax). Measured
    # on an AVX2 EPYC: 1.2e-2, while transformers' own bf16 scores are 6.6e-2 from its fp32 ones on this tiny
    # random model (a router can pick other experts in bf16). The bound: the larger of 3e-2 and that error.
    from hf_reference import hf_scores
    from worker_batches import LABELS, score_both_ways

    query, items = mixed_inputs(seed=3)
    reference = torch.tensor(hf_scores(path, query, items, LABELS, apply_softmax=True, dtype=torch.bfloat16))
    fp32 = torch.tensor(hf_scores(path, query, items, LABELS, apply_softmax=True))
    bound = max(3e-2, (reference - fp32).abs().max().item())
    for got in score_both_ways(w, query, items, LABELS, apply_softmax=True):
        torch.testing.assert_close(torch.tensor(got), reference, atol=bound, rtol=0)


def test_kimi_k2s_config_is_read_as_deepseek_v3(tiny_model, tmp_path):
    """Kimi K2 ships DeepSeek-V3's config under model_type ``kimi_k2`` (with remote code, not needed here)."""
    import json
    import shutil

    path = tiny_model("deepseek_v3", "causal")
    kimi = tmp_path / "kimi"
    shutil.copytree(path, kimi)
    config = json.loads((kimi / "config.json").read_text())
    config.update(model_type="kimi_k2", auto_map={"AutoConfig": "configuration_deepseek.DeepseekV3Config"})
    (kimi / "config.json").write_text(json.dumps(config))
    assert_both_ways_equal_transformers(kimi, "causal", seed=5, reference=path)


def test_the_prefix_cache_holds_the_expanded_keys_and_scores_as_uncached(tiny_model):
    assert_prefix_cache_scores_as_uncached(tiny_model("deepseek_v3", "seqcls"), [(4, 24)] * 3)  # heads x (nope 16 + rope 8)
