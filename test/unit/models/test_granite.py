"""Granite against transformers: its four multipliers (embeddings, attention scores, residual
branches, logits) far from 1, single-item and MIS; the bare model as an embedder; the Granite
Guardian reading (a causal LM made a yes/no classifier by classifier_from_token), whose converted
head divides by logits_scaling as the LM head does."""

import json

import pytest
import torch

from make_tiny_model import build_tokenizer
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from worker_batches import assert_both_ways_equal_transformers, mixed_inputs, score_both_ways, worker

LABELS = [3, 9, 20]
MULTIPLIERS = dict(embedding_multiplier=12.0, attention_multiplier=0.1, residual_multiplier=0.22, logits_scaling=4.0)


@pytest.fixture(scope="module")
def granite(tmp_path_factory):
    from transformers import GraniteConfig, GraniteForCausalLM

    tokenizer = build_tokenizer("llama")
    config = GraniteConfig(vocab_size=(len(tokenizer) + 63) // 64 * 64, hidden_size=64, intermediate_size=128,
                           num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, initializer_range=0.1,
                           max_position_embeddings=4096, tie_word_embeddings=False, **MULTIPLIERS)
    torch.manual_seed(0)
    model = GraniteForCausalLM(config).eval()
    path = tmp_path_factory.mktemp("granite")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path, model


def _logits(model, query, items):
    with torch.no_grad():
        return torch.stack([model(input_ids=torch.tensor([query + item])).logits[0, -1] for item in items])


@pytest.mark.parametrize("seed", [0, 5])
def test_granite_equals_transformers_single_item_and_mis(granite, seed):
    path, model = granite
    query, items = mixed_inputs(seed=seed)
    single, mis = score_both_ways(worker(path), query, items, LABELS)
    ref = torch.log_softmax(_logits(model, query, items).float(), -1)[:, LABELS].exp()  # full-vocabulary probabilities
    torch.testing.assert_close(torch.tensor(single), ref, atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(torch.tensor(mis), ref, atol=1e-6, rtol=1e-4)


def test_each_multiplier_matters(granite):
    """Guards the parity test: serving the same weights as plain Llama scores otherwise."""
    path, _ = granite
    query, items = mixed_inputs(seed=1)
    ours = torch.tensor(score_both_ways(worker(path), query, items, LABELS, apply_softmax=True)[0])
    as_llama = worker(path, json_model_override_args='{"architectures": ["LlamaForCausalLM"]}')
    plain = torch.tensor(score_both_ways(as_llama, query, items, LABELS, apply_softmax=True)[0])
    assert (ours - plain).abs().max() > 1e-2


def test_the_bare_model_embeds_as_transformers(granite):
    from transformers import GraniteModel

    path, _ = granite
    w = worker(path, json_model_override_args='{"architectures": ["GraniteModel"]}')
    texts = [[5, 17, 30, 8, 9], [44, 9]]
    seqs = [ScoreSequence(str(i), ids, 0, 1, PoolingParams(activation="default")) for i, ids in enumerate(texts)]
    bare = GraniteModel.from_pretrained(str(path), dtype=torch.float32).eval()
    with torch.no_grad():
        last = torch.stack([bare(input_ids=torch.tensor([ids])).last_hidden_state[0, -1] for ids in texts])
    torch.testing.assert_close(torch.cat(w.forward(seqs)), torch.nn.functional.normalize(last, dim=-1), atol=1e-5, rtol=0)


def test_guardian_yes_no_reading_by_classifier_from_token(granite):
    """One label, logit(p_yes / (p_yes + p_no)), from two LM-head rows divided by logits_scaling."""
    from transformers import AutoTokenizer

    path, model = granite
    tokens = AutoTokenizer.from_pretrained(str(path)).convert_ids_to_tokens(LABELS[:2])
    overrides = {"architectures": ["GraniteForSequenceClassification"], "classifier_from_token": tokens,
                 "method": "from_2_way_softmax"}
    w = worker(path, json_model_override_args=json.dumps(overrides))
    query, items = mixed_inputs(seed=3)
    single, mis = score_both_ways(w, query, items, None)
    logits = _logits(model, query, items)[:, LABELS[:2]]  # transformers' logits, already divided
    expected = (logits[:, 1] - logits[:, 0])[:, None]
    torch.testing.assert_close(torch.tensor(single), expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), expected, atol=1e-5, rtol=0)


def test_granite_moe_equals_transformers_single_item_and_mis(tmp_path):
    """Granite 3.x MoE: Granite's multipliers with every MLP 4 experts of 32 (2 per token, stored 3-D),
    whose output is scaled by the residual multiplier too."""
    from transformers import GraniteMoeConfig, GraniteMoeForCausalLM

    tokenizer = build_tokenizer("llama")
    config = GraniteMoeConfig(vocab_size=(len(tokenizer) + 63) // 64 * 64, hidden_size=64, intermediate_size=32,
                              num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, initializer_range=0.1,
                              max_position_embeddings=4096, tie_word_embeddings=False, num_local_experts=4,
                              num_experts_per_tok=2, **MULTIPLIERS)
    torch.manual_seed(0)
    model = GraniteMoeForCausalLM(config).eval()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    query, items = mixed_inputs(seed=2)
    single, mis = score_both_ways(worker(tmp_path), query, items, LABELS, apply_softmax=True)
    expected = torch.softmax(_logits(model, query, items)[:, LABELS], dim=-1)  # transformers' logits: already scaled
    torch.testing.assert_close(torch.tensor(single), expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), expected, atol=1e-5, rtol=0)


def test_granite_moe_with_a_shared_mlp_equals_transformers_single_item_and_mis(tmp_path):
    """GraniteMoeShared: the MoE above with an always-on gated MLP of 48 beside the experts (its output
    scaled by the residual multiplier as the experts' is)."""
    from transformers import GraniteMoeSharedConfig, GraniteMoeSharedForCausalLM

    tokenizer = build_tokenizer("llama")
    config = GraniteMoeSharedConfig(vocab_size=(len(tokenizer) + 63) // 64 * 64, hidden_size=64, intermediate_size=32,
                                    shared_intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                                    num_key_value_heads=2, initializer_range=0.1, max_position_embeddings=4096,
                                    tie_word_embeddings=False, num_local_experts=4, num_experts_per_tok=2, **MULTIPLIERS)
    torch.manual_seed(0)
    model = GraniteMoeSharedForCausalLM(config).eval()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    w = worker(tmp_path)
    assert w.model.model.layers[0].mlp.shared_mlp.intermediate_size == 48
    query, items = mixed_inputs(seed=2)
    single, mis = score_both_ways(w, query, items, LABELS, apply_softmax=True)
    expected = torch.softmax(_logits(model, query, items)[:, LABELS], dim=-1)
    torch.testing.assert_close(torch.tensor(single), expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("post_norm", [True, False])
def test_hyperclovax_equals_transformers_single_item_and_mis(tmp_path, post_norm):
    """HyperCLOVA X: Granite's multipliers with peri-layer norms (each output normed before its residual
    multiplier), logits multiplied by logits_scaling; its norms perturbed from 1."""
    from transformers import HyperCLOVAXConfig, HyperCLOVAXForCausalLM

    tokenizer = build_tokenizer("llama")
    config = HyperCLOVAXConfig(vocab_size=(len(tokenizer) + 63) // 64 * 64, hidden_size=64, intermediate_size=128,
                               num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, initializer_range=0.1,
                               max_position_embeddings=4096, tie_word_embeddings=False, use_post_norm=post_norm,
                               **MULTIPLIERS)
    torch.manual_seed(0)
    model = HyperCLOVAXForCausalLM(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(torch.randn(p.shape) * 0.3)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    w = worker(tmp_path)
    assert w.model.model.layers[0].sandwich_norms is post_norm
    for seed in (0, 5) if post_norm else (0,):
        assert_both_ways_equal_transformers(tmp_path, "causal", seed=seed, w=w)
