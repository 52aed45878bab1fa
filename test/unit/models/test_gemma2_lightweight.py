"""BAAI's bge-reranker-v2.5-gemma2-lightweight (FlagEmbedding's ``CostWiseGemmaForCausalLM``, model_type
``cost_wise_gemma``) against FlagEmbedding's own ``LightweightLLMReranker``, run unchanged from the
transformers-4 reference venv: a tiny checkpoint saved by its own class (sliding-window layers with a
window shorter than the prompts, soft-capped attention and heads), each cut layer's scores,
single-item and MIS, with its prompt built by the ``bge_reranker_lightweight`` score template; and its
token compression (models/token_compression.py), pairs as the compressing scorer sends them and
through an Engine's rerank."""

import json
import types

import pytest
import torch

from multiscore.configs.model_config import ModelConfig
from multiscore.layers.pooler import config_activation
from multiscore.models.layerwise_cut import cut_layer
from multiscore.server_args import ServerArgs
from reference_venv import TRANSFORMERS_4, reference_json, reference_python, run_reference
from tiny_tokenizers import build_tokenizer
from worker_batches import templated_both_ways, worker

LAYERS, START = 4, 2
QUERY = "what is a cat"
DOCS = ["a cat is an animal", "the sky is blue today and the sun is high in it", "cat",
        "what is the moon made of , a cat asks the dog at night"]
PROMPT = "Is passage B about the query A ? Answer yes or no ."
REFERENCE = "flagembedding_lightweight_reference.py"


@pytest.fixture(scope="module")
def lightweight(tmp_path_factory):
    reference_python(TRANSFORMERS_4)  # skips without the venv
    tokenizer_dir = tmp_path_factory.mktemp("tok")
    build_tokenizer("gemma2").save_pretrained(tokenizer_dir)
    path = tmp_path_factory.mktemp("lightweight") / "ckpt"
    run_reference(REFERENCE, "make", "--out", path, "--tokenizer-json", tokenizer_dir / "tokenizer.json",
                  "--layers", LAYERS, "--start", START, venv=TRANSFORMERS_4)
    return path


def _flagembedding(path, *args):
    pairs = json.dumps([[QUERY, d] for d in DOCS])
    return reference_json(REFERENCE, "score", "--model", path, "--pairs", pairs, *args, venv=TRANSFORMERS_4)


@pytest.fixture(scope="module")
def flagembedding(lightweight):
    """FlagEmbedding's scores with eager attention (soft-capped as the config says):
    {prompt ("": its default): {cut layer: [N]}}."""
    return _flagembedding(lightweight, "--cutoffs", *range(START, LAYERS + 1), "--prompts", "", PROMPT,
                          "--attention", "eager")


def _ours(path, instruction=None, **overrides):
    """Each pair alone and all pairs in one MIS sequence -> (single [N], mis [N]) raw logits."""
    w = worker(path, json_model_override_args=json.dumps(overrides))
    return templated_both_ways(w, QUERY, DOCS, w.model_config.default_score_template, instruction)


def _assert_equal(ours, expected):
    for scores in ours:  # single-item, MIS
        torch.testing.assert_close(scores, torch.tensor(expected), atol=1e-5, rtol=0)


def test_lightweight_reranker_equals_flagembedding_at_every_cut(lightweight, flagembedding):
    for cutoff in (START, 3, None):  # None: FlagEmbedding's default, the last layer
        _assert_equal(_ours(lightweight, **({} if cutoff is None else {"cutoff_layers": [cutoff]})),
                      flagembedding[""][str(cutoff or LAYERS)])
    by_layer = flagembedding[""]
    assert (torch.tensor(by_layer["3"]) - torch.tensor(by_layer[str(LAYERS)])).abs().min() > 1e-2  # the cut matters


def test_a_request_instruction_is_flagembeddings_prompt(lightweight, flagembedding):
    _assert_equal(_ours(lightweight, PROMPT, cutoff_layers=[3]), flagembedding[PROMPT]["3"])
    assert (torch.tensor(flagembedding[PROMPT]["3"]) - torch.tensor(flagembedding[""]["3"])).abs().min() > 1e-3


def test_without_attention_softcapping_it_equals_flagembeddings_default_run(lightweight, flagembedding):
    """FlagEmbedding's class runs transformers' SDPA attention, which skips the soft-capping; the
    override gives its numbers exactly, and they differ from the soft-capped ones."""
    sdpa = _flagembedding(lightweight, "--cutoffs", 3)[""]["3"]
    _assert_equal(_ours(lightweight, cutoff_layers=[3], attn_logit_softcapping=None), sdpa)
    assert (torch.tensor(sdpa) - torch.tensor(flagembedding[""]["3"])).abs().max() > 2e-5


def test_the_cut_builds_only_the_layers_it_reads(lightweight):
    config = ModelConfig.from_server_args(ServerArgs(model_path=str(lightweight), json_model_override_args='{"cutoff_layers": 3}'))
    assert config.hf_config.num_hidden_layers == 3 and config.num_labels == 1
    assert config.hf_config.sliding_window == 8 and config.hf_config.attn_logit_softcapping == 50.0
    assert config.default_score_template == "bge_reranker_lightweight"
    assert config_activation(config.hf_config) == "sigmoid"  # FlagEmbedding's normalize=True where APIs activate


@pytest.mark.parametrize("override, message", [
    ({"cutoff_layers": [1]}, "cutoff_layers 1 is outside the layers with a head, 2 to 4"),
    ({"cutoff_layers": [3, 4]}, "cutoff_layers must be one layer number"),
    ({"compress_ratio": 3}, "compress_ratio must be 1, 2, 4 or 8"),
    ({"compress_ratio": 2, "compress_layers": ["2"]}, "compress_layers must be layer numbers"),
    ({"layer_wise": False}, "CostWiseGemmaForCausalLM without layer_wise is not served"),
])
def test_what_the_lightweight_reranker_cannot_serve_is_refused(lightweight, override, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig.from_server_args(ServerArgs(model_path=str(lightweight), json_model_override_args=json.dumps(override)))


@pytest.mark.parametrize("cutoff, expected", [(None, 12), (4, 4), (8, 8), ([10], 10)])
def test_a_cut_every_layer_sep_layers(cutoff, expected):
    assert cut_layer(types.SimpleNamespace(cutoff_layers=cutoff), 12, 4, 2) == expected


@pytest.mark.parametrize("cutoff", [3, 5, 13, 2])
def test_a_cut_between_heads_is_refused(cutoff):
    with pytest.raises(ValueError, match=f"cutoff_layers {cutoff} is outside the layers with a head, 4 to 12, every 2"):
        cut_layer(types.SimpleNamespace(cutoff_layers=cutoff), 12, 4, 2)


def _compressed(path, instruction=None, w=None, **overrides):
    """The pairs as CompressedPairScorer / CompressedMisScorer send them (query part apart, items with
    their token types), through the scheduler's policy -> raw logits (single-item [N], MIS [N]), and a
    one-item MIS request's [1] (the policy scores it as the plain sequence query + item)."""
    from multiscore.messages import PoolingParams, TokenizedScoreRequest
    from multiscore.tokenizer.pair_tokenizer import PairTokenizer
    from multiscore.tokenizer.score_template import ScoreTemplate
    from worker_batches import run_requests

    w = w or worker(path, json_model_override_args=json.dumps(overrides))
    tokenizer = w.model_config.load_tokenizer()
    pairs = PairTokenizer(tokenizer, ScoreTemplate.load(w.model_config.default_score_template, tokenizer))
    query, items, item_types = pairs.segmented_pairs(
        QUERY, DOCS, template_vars={"instruction": instruction} if instruction else None)
    requests = [TokenizedScoreRequest(rid=rid, query_ids=query, items_ids=items[:n], mis=mis,
                                      pooling=PoolingParams(activation="none"), items_token_type_ids=item_types[:n])
                for rid, mis, n in (("single", False, len(items)), ("mis", True, len(items)), ("one", True, 1))]
    out = run_requests(w, requests)
    return out["single"].flatten(), out["mis"].flatten(), out["one"].flatten()


@pytest.mark.parametrize("ratio, layers", [(2, [2]), (4, [1, 3]), (2, [1, 2, 3])])
def test_token_compression_equals_flagembedding(lightweight, ratio, layers):
    expected = _flagembedding(lightweight, "--cutoffs", 3, LAYERS, "--prompts", "", PROMPT, "--attention", "eager",
                              "--compress-ratio", ratio, "--compress-layers", *layers)
    for cutoff in (3, LAYERS):
        for prompt in ("", PROMPT):
            single, mis, one = _compressed(lightweight, prompt or None, cutoff_layers=[cutoff], compress_ratio=ratio,
                                           compress_layers=layers)
            _assert_equal((single, mis), expected[prompt][str(cutoff)])
            _assert_equal((one,), expected[prompt][str(cutoff)][:1])
    uncompressed = _flagembedding(lightweight, "--cutoffs", LAYERS, "--attention", "eager")[""][str(LAYERS)]
    assert (torch.tensor(expected[""][str(LAYERS)]) - torch.tensor(uncompressed)).abs().max() > 1e-2  # it compresses


def test_the_prefix_cache_serves_compressed_pairs_as_uncached(lightweight):
    """The query's keys and values are the same with or without compression: cached once, they serve
    later requests, single-item and MIS, with the scores of a worker without the cache."""
    overrides = json.dumps({"compress_ratio": 2, "compress_layers": [1, 3]})
    on = worker(lightweight, json_model_override_args=overrides)
    off = worker(lightweight, json_model_override_args=overrides, disable_radix_cache=True)
    assert on.prefix_cache is not None and off.prefix_cache is None
    expected = _compressed(lightweight, w=off)
    for _ in ("cold", "warm"):
        for ours, theirs in zip(_compressed(lightweight, w=on), expected):
            torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    assert on.prefix_cache.stats.hits > 0


def test_compression_plan_moves_kept_rows_and_averages_each_group():
    from multiscore.layers.attention.base import SequenceLayout
    from multiscore.models.token_compression import plan_compression

    # A pair (query 2, passage 5, prompt 1), a sequence without passage (kept whole), a pair whose
    # query's first 2 tokens are cached (rows: query 1, passage 2), and an MIS sequence: query 2, D,
    # item (passage 3, prompt 1), D, item (passage 1), D.
    segments = torch.tensor([0, 0, 1, 1, 1, 1, 1, 2, 0, 0, 0, 1, 1] + [0, 0, 0, 1, 1, 1, 2, 0, 1, 0])
    positions = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 5, 6, 2, 3, 4] + [0, 1, 1, 2, 3, 4, 5, 1, 2, 1])
    layouts = [SequenceLayout(0, 8), SequenceLayout(8, 2), SequenceLayout(10, 3, cached_len=2),
               SequenceLayout(13, 10, query_len=2, item_lens=torch.tensor([4, 1]))]
    plan = plan_compression(segments, positions, layouts, ratio=2)
    assert plan.dst.tolist() == [0, 1, 2, 2, 3, 3, 4, 5, 6, 7, 8, 9, 9] + [10, 11, 12, 13, 13, 14, 15, 16, 17, 18]
    assert plan.weight.tolist() == [1, 1, .5, .5, .5, .5, 1, 1, 1, 1, 1, .5, .5] + [1, 1, 1, .5, .5, 1, 1, 1, 1, 1]
    assert [(s.start, s.length) for s in plan.layouts] == [(0, 6), (6, 2), (8, 2), (10, 9)]
    assert plan.layouts[2].cached_len == 2 and plan.layouts[3].query_len == 2 and plan.layouts[3].item_lens.tolist() == [3, 1]
    # Pairs numbered afresh (after a cached prefix: from its length), MIS items from the query's length, the rest kept.
    assert plan.positions.tolist() == [0, 1, 2, 3, 4, 5, 5, 6, 2, 3] + [0, 1, 1, 2, 3, 4, 1, 2, 1]
    assert plan.segments.tolist() == [0, 0, 1, 1, 1, 2, 0, 0, 0, 1] + [0, 0, 0, 1, 1, 2, 0, 1, 0]
    hidden = torch.arange(23, dtype=torch.float32)[:, None].repeat(1, 3)
    assert plan.apply(hidden)[:, 0].tolist() == [0, 1, 2.5, 4.5, 6, 7, 8, 9, 10, 11.5] + [13, 14, 15, 16.5, 18, 19, 20, 21, 22]
    assert plan.rows(torch.tensor([7, 9, 12, 19, 21])).tolist() == [5, 7, 9, 15, 17]


def test_a_compressing_engine_reranks_as_flagembedding(lightweight):
    from multiscore import Engine

    expected = _flagembedding(lightweight, "--cutoffs", LAYERS, "--attention", "eager", "--compress-ratio", 2,
                              "--compress-layers", 2)[""][str(LAYERS)]
    overrides = json.dumps({"compress_ratio": 2, "compress_layers": [2]})
    with Engine(str(lightweight), num_threads=1, json_model_override_args=overrides,
                multi_item_scoring_delimiter=4) as engine:
        results = engine.rerank(QUERY, DOCS, use_activation=False)
        info = engine.get_server_info()
        scored = engine.score(QUERY, DOCS)  # SGLang's /v1/score: no template, each item is the passage
    ours = torch.tensor([r.relevance_score for r in sorted(results, key=lambda r: r.index)])
    torch.testing.assert_close(ours, torch.tensor(expected), atol=1e-5, rtol=0)
    assert info["prefix_cache"].startswith("on:"), info["prefix_cache"]

    from multiscore.messages import PoolingParams
    from multiscore.model_executor.forward_batch import ScoreSequence

    w = worker(lightweight, json_model_override_args=overrides)
    tokenizer = w.model_config.load_tokenizer()
    query = tokenizer(QUERY)["input_ids"]
    items = tokenizer(DOCS, add_special_tokens=False)["input_ids"]
    seqs = [ScoreSequence(str(i), query + it, i, 1, PoolingParams(activation="none"),
                          token_type_ids=[0] * len(query) + [1] * len(it)) for i, it in enumerate(items)]
    torch.testing.assert_close(torch.tensor(scored.scores).flatten(), torch.cat(w.forward(seqs)).flatten(), atol=1e-5, rtol=0)
    assert (torch.tensor(scored.scores).flatten() - ours).abs().max() > 1e-3  # not the templated pairs
