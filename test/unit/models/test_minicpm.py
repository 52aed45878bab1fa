"""MiniCPM as published (remote code, model_type ``minicpm``), served without it: its multipliers are
Granite's, so a tiny Granite (attention scaled by head_dim ** -0.5) rewritten in MiniCPM's layout
scores as transformers' Granite on the same weights, single-item and MIS. BAAI's
bge-reranker-v2-minicpm-layerwise against FlagEmbedding's own ``LayerWiseLLMReranker`` (the reference
venv): each cut layer's scores, single-item and MIS, with its prompt built by the ``bge_reranker``
score template."""

import json
import math

import pytest
import torch

from make_tiny_model import build_tokenizer
from multiscore.configs.model_config import ModelConfig
from multiscore.layers.pooler import config_activation
from multiscore.server_args import ServerArgs
from multiscore.tokenizer.score_template import ScoreTemplate
from reference_venv import reference_json
from remote_code_checkpoints import as_minicpm
from worker_batches import assert_both_ways_equal_transformers, templated_both_ways, worker

LAYERS, START = 4, 2
QUERY = "what is a cat"
DOCS = ["a cat is an animal", "the sky is blue today", "cat", "what is the moon made of , a cat asks"]


@pytest.fixture(scope="module")
def granite(tmp_path_factory):
    from transformers import GraniteConfig, GraniteForCausalLM

    tokenizer = build_tokenizer("llama")
    config = GraniteConfig(vocab_size=(len(tokenizer) + 63) // 64 * 64, hidden_size=64, intermediate_size=128,
                           num_hidden_layers=LAYERS, num_attention_heads=4, num_key_value_heads=2, initializer_range=0.1,
                           max_position_embeddings=4096, tie_word_embeddings=False, embedding_multiplier=12.0,
                           attention_multiplier=0.25, residual_multiplier=1.4 / math.sqrt(LAYERS), logits_scaling=4.0,
                           bos_token_id=tokenizer.bos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("granite")
    GraniteForCausalLM(config).eval().save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def layerwise(granite, tmp_path_factory):
    return as_minicpm(granite, tmp_path_factory.mktemp("lw") / "ckpt", "LayerWiseMiniCPMForCausalLM", layerwise_start=START)


def test_minicpm_as_published_equals_transformers_granite(granite, tmp_path):
    path = as_minicpm(granite, tmp_path / "minicpm")
    assert_both_ways_equal_transformers(path, "causal", seed=3, reference=granite)


def test_a_config_without_tie_word_embeddings_ties_as_minicpm_does(granite, tmp_path):
    path = as_minicpm(granite, tmp_path / "minicpm")
    config = json.loads((path / "config.json").read_text())
    del config["tie_word_embeddings"]
    (path / "config.json").write_text(json.dumps(config))
    assert ModelConfig.from_server_args(ServerArgs(model_path=str(path))).hf_config.tie_word_embeddings is True


def test_minicpm4s_sparse_attention_is_refused(granite, tmp_path):
    path = as_minicpm(granite, tmp_path / "minicpm4", sparse_config={"kernel_size": 32, "topk": 64})
    with pytest.raises(ValueError, match="sparse_config .MiniCPM4's sparse attention"):
        ModelConfig.from_server_args(ServerArgs(model_path=str(path)))


def _ours(path, cutoff, instruction=None):
    """Each pair alone and all pairs in one MIS sequence -> (single [N], mis [N]) raw logits."""
    w = worker(path, json_model_override_args=json.dumps({} if cutoff is None else {"cutoff_layers": [cutoff]}))
    return templated_both_ways(w, QUERY, DOCS, w.model_config.default_score_template, instruction)


PROMPT = "Is passage B about the query A ? Answer yes or no ."


@pytest.fixture(scope="module")
def flagembedding(layerwise):
    """FlagEmbedding's scores of (QUERY, each of DOCS): {prompt ("": its default): {cut layer: [N]}}."""
    pairs = json.dumps([[QUERY, d] for d in DOCS])
    return reference_json("flagembedding_reranker_reference.py", "--kind", "layerwise", "--model", layerwise,
                          "--pairs", pairs, "--cutoffs", *range(START, LAYERS + 1), "--prompts", "", PROMPT)


def test_layerwise_reranker_equals_flagembedding_at_every_cut(layerwise, flagembedding):
    for cutoff in (START, 3, None):  # None: FlagEmbedding's default, the last layer
        single, mis = _ours(layerwise, cutoff)
        ref = torch.tensor(flagembedding[""][str(cutoff or LAYERS)])
        torch.testing.assert_close(single, ref, atol=1e-5, rtol=0)
        torch.testing.assert_close(mis, ref, atol=1e-5, rtol=0)
    by_layer = flagembedding[""]
    assert (torch.tensor(by_layer["3"]) - torch.tensor(by_layer[str(LAYERS)])).abs().min() > 1e-2  # the cut matters


def test_a_request_instruction_is_flagembeddings_prompt(layerwise, flagembedding):
    single, mis = _ours(layerwise, 3, instruction=PROMPT)
    ref = torch.tensor(flagembedding[PROMPT]["3"])
    torch.testing.assert_close(single, ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(mis, ref, atol=1e-5, rtol=0)
    assert (ref - torch.tensor(flagembedding[""]["3"])).abs().min() > 1e-3  # the prompt matters


def test_flagembeddings_ids_on_a_sentencepiece_tokenizer(layerwise, tmp_path):
    """With Llama's kind of tokenizer (MiniCPM's), the pieces FlagEmbedding tokenizes alone give other ids
    than the whole prompt; the served ids are FlagEmbedding's, and so are the scores."""
    import shutil

    path = tmp_path / "spiece"
    shutil.copytree(layerwise, path)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (path / name).unlink(missing_ok=True)
    tokenizer = build_tokenizer("spiece")
    tokenizer.save_pretrained(path)
    template = ScoreTemplate.load("bge_reranker", tokenizer)
    whole = tokenizer(template.render(QUERY, DOCS[0]))["input_ids"]
    assert template.prompt_ids(QUERY, DOCS[0]) != whole  # the test can tell the two apart
    pairs = json.dumps([[QUERY, d] for d in DOCS])
    expected = reference_json("flagembedding_reranker_reference.py", "--kind", "layerwise", "--model", path,
                              "--pairs", pairs, "--cutoffs", 3)[""]["3"]
    single, mis = _ours(path, 3)
    torch.testing.assert_close(single, torch.tensor(expected), atol=1e-5, rtol=0)
    torch.testing.assert_close(mis, torch.tensor(expected), atol=1e-5, rtol=0)


def test_the_cut_builds_only_the_layers_it_reads(layerwise):
    config = ModelConfig.from_server_args(ServerArgs(model_path=str(layerwise), json_model_override_args='{"cutoff_layers": 3}'))
    assert config.hf_config.num_hidden_layers == 3 and config.num_labels == 1
    assert config.default_score_template == "bge_reranker"
    assert config_activation(config.hf_config) == "sigmoid"  # FlagEmbedding's normalize=True where APIs activate


@pytest.mark.parametrize("override, message", [
    ({"cutoff_layers": [1]}, "cutoff_layers 1 is outside the layers with a head, 2 to 4"),
    ({"cutoff_layers": [5]}, "cutoff_layers 5 is outside the layers with a head, 2 to 4"),
    ({"cutoff_layers": [3, 4]}, "cutoff_layers must be one layer number"),
    ({"head_type": "raw"}, "head_type 'raw' is not supported"),
])
def test_what_the_layerwise_reranker_cannot_serve_is_refused(layerwise, override, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig.from_server_args(ServerArgs(model_path=str(layerwise), json_model_override_args=json.dumps(override)))


@pytest.mark.parametrize("mis", [False, True], ids=["single-item", "mis"])
def test_the_prefix_cache_holds_only_the_cut_layers_and_scores_as_uncached(layerwise, mis):
    from multiscore.messages import PoolingParams, TokenizedScoreRequest
    from worker_batches import mixed_inputs, run_requests

    overrides = json.dumps({"cutoff_layers": [3]})
    on, off = worker(layerwise, json_model_override_args=overrides), worker(layerwise, json_model_override_args=overrides,
                                                                           disable_radix_cache=True)
    assert len(on.prefix_cache.tree.pool.layer_shapes) == 3  # keys and values of the three layers that run
    query, items = mixed_inputs(seed=1, n_items=4)
    requests = [TokenizedScoreRequest(rid=rid, query_ids=query, items_ids=items, pooling=PoolingParams(), mis=mis)
                for rid in ("cold", "warm")]
    expected = run_requests(off, requests[:1])["cold"]
    for request in requests:  # cold, then a hit
        torch.testing.assert_close(run_requests(on, [request])[request.rid], expected, atol=1e-5, rtol=0)
    assert on.prefix_cache.stats.hits > 0
