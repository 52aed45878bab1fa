"""Gemma (scaled embeddings, 1 + w norms, GELU-tanh MLP, tied head), Gemma2 (soft-capping), VaultGemma and
sliding windows (Mistral, Gemma2, Qwen2) against transformers, single-item and MIS; the generic
parity matrix is in test_model_worker.py."""

import numpy as np
import pytest
import torch

from hf_reference import assert_scores_close
from multiscore.configs.model_config import ModelConfig
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from multiscore.server_args import ServerArgs
from worker_batches import assert_both_ways_match_transformers, mixed_inputs, score_both_ways, templated_both_ways, worker


def test_gemma_with_its_tied_head_equals_transformers(tiny_model):
    path = tiny_model("gemma", "causal", tie_word_embeddings=True)
    assert_both_ways_match_transformers(worker(path), path, [3, 9, 20], [4])


def test_gemma_model_embeds_as_transformers(tiny_model):
    """GemmaModel (the bare decoder) as an embedder: last token, normalised."""
    from transformers import AutoModel

    path = tiny_model("gemma", "causal")
    w = worker(path, json_model_override_args='{"architectures": ["GemmaModel"]}')
    texts = [[5, 17, 30, 8], [44, 9], [12, 13, 14, 15, 16, 70]]
    seqs = [ScoreSequence(str(i), ids, 0, 1, PoolingParams(activation="default")) for i, ids in enumerate(texts)]
    got = torch.cat(w.forward(seqs)).numpy()
    hf = AutoModel.from_pretrained(str(path), dtype=torch.float32).eval()
    with torch.no_grad():
        ref = torch.stack([hf(input_ids=torch.tensor([ids])).last_hidden_state[0, -1] for ids in texts])
    ref = torch.nn.functional.normalize(ref, dim=-1).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_gemma_norm_weights_are_stored_as_one_plus_w(tiny_model):
    from safetensors.torch import load_file

    path = tiny_model("gemma", "seqcls")
    stored = load_file(str(path / "model.safetensors"))["model.norm.weight"]
    loaded = worker(path).model.model.norm.weight.detach()
    torch.testing.assert_close(loaded, stored + 1.0)


def test_bidirectional_gemma_is_refused(tiny_model):
    path = tiny_model("gemma", "seqcls")
    with pytest.raises(ValueError, match="use_bidirectional_attention"):
        worker(path, json_model_override_args='{"use_bidirectional_attention": true}')


def _config(path, **kw) -> ModelConfig:
    return ModelConfig.from_server_args(ServerArgs(model_path=str(path), device="cpu", **kw))


def test_sliding_window_caps_the_context_only_on_flashinfer(tiny_model):
    path = tiny_model("mistral", "seqcls", sliding_window=32)
    assert _config(path).context_length == 4096  # the torch backend implements the window
    assert _config(path, attention_backend="flashinfer").context_length == 32
    assert _config(path, attention_backend="flashinfer", context_length=20).context_length == 20
    with pytest.raises(ValueError, match="exceeds the model's sliding window of 32 tokens"):
        _config(path, attention_backend="flashinfer", context_length=33)


@pytest.mark.parametrize("arch, head, kw", [
    ("mistral", "seqcls", {"sliding_window": 4}),
    ("mistral", "causal", {"sliding_window": 3}),
    ("gemma2", "seqcls", {"sliding_window": 4}),  # layer 0 slides, layer 1 is global
    ("gemma2", "causal", {"sliding_window": 5, "attn_logit_softcapping": 0.5}),
    ("qwen2", "seqcls", {"use_sliding_window": True, "sliding_window": 4, "max_window_layers": 1}),
    ("cwm", "causal", {}),  # Code World Model: a global layer, then a 4-position sliding one
])
def test_sliding_windows_shorter_than_query_and_items_equal_transformers(tiny_model, arch, head, kw):
    """Windows of 3-5 tokens against a 9-token query and items of 0-6 tokens: every item crosses the
    window's edge, so MIS must measure it in the item's single-item positions."""
    path = tiny_model(arch, head, **kw)
    labels = [3, 9, 20] if head == "causal" else None
    assert_both_ways_match_transformers(worker(path), path, labels, (0, 7))


def test_a_window_that_is_switched_off_does_not_cap(tiny_model):
    path = tiny_model("qwen2", "seqcls", sliding_window=32, use_sliding_window=False)
    assert _config(path).context_length == 4096


@pytest.mark.parametrize("head", ["causal", "seqcls"])
def test_gemma2_soft_capping_equals_transformers_where_it_bites(tiny_model, head):
    """Caps small enough to change every score: attention logits (runs, MIS parts A and B, GQA) and,
    for the LM head, the final logits."""
    labels = [3, 9, 20] if head == "causal" else None
    capped = tiny_model("gemma2", head, attn_logit_softcapping=0.5, final_logit_softcapping=0.3)
    plain = tiny_model("gemma2", head, attn_logit_softcapping=None, final_logit_softcapping=None)
    single = assert_both_ways_match_transformers(worker(capped), capped, labels, [6])
    query, items = mixed_inputs(seed=6)
    uncapped, _ = score_both_ways(worker(plain), query, items, labels)
    assert max(abs(a - b) for s, u in zip(single, uncapped) for a, b in zip(s, u)) > 1e-3


def test_gemma2_reads_hidden_activation(tiny_model):
    path = tiny_model("gemma2", "seqcls")
    assert worker(path).model.model.layers[0].mlp.act_mul == "gelu_tanh_mul"


def test_gemma2_on_flashinfer_is_refused_at_start_up(tiny_model):
    path = tiny_model("gemma2", "seqcls")
    with pytest.raises(ValueError, match="soft-caps its attention scores.*--attention-backend torch"):
        worker(path, attention_backend="flashinfer")


def test_the_window_changes_the_scores(tiny_model):
    """Guards the parity test above: with a 4-token window the scores are not the full-attention ones."""
    query, items = mixed_inputs(seed=0)
    windowed, _ = score_both_ways(worker(tiny_model("mistral", "seqcls", sliding_window=4)), query, items, None)
    full, _ = score_both_ways(worker(tiny_model("mistral", "seqcls", sliding_window=None)), query, items, None)
    assert max(abs(a - b) for w, f in zip(windowed, full) for a, b in zip(w, f)) > 0.1


@pytest.mark.parametrize("mis", [False, True])
def test_gemma_reranker_conversion_reads_the_yes_logit(tiny_model, mis):
    """bge-reranker-v2-gemma's recipe: the causal Gemma (tied head) read at one token through
    classifier_from_token; the score is the causal model's next-token logit of that token."""
    from hf_reference import load_model, load_tokenizer

    path = tiny_model("gemma", "causal", tie_word_embeddings=True)
    yes = load_tokenizer(str(path)).convert_tokens_to_ids("yes")
    w = worker(path, json_model_override_args='{"classifier_from_token": ["yes"], "method": "no_post_processing"}')
    assert w.model.kind.name == "DECODER_CLASSIFIER"
    query, items = mixed_inputs(seed=8)
    single, mis_scores = score_both_ways(w, query, items, None)
    model = load_model(str(path))
    with torch.no_grad():
        expected = [[model(input_ids=torch.tensor([query + item])).logits[0, -1, yes].item()] for item in items]
    assert_scores_close(mis_scores if mis else single, expected)


def test_gemma_reranker_with_the_bge_reranker_template_equals_flagembedding(tiny_model):
    """bge-reranker-v2-gemma as its model card runs it (FlagEmbedding's ``BaseLLMReranker``: its
    prompt around each pair, the "Yes" logit at the last token) and as served here (the built-in
    ``bge_reranker`` template, the yes row by classifier_from_token), default prompt and a request's
    own, single-item and MIS."""
    import json

    from reference_venv import reference_json

    path = tiny_model("gemma", "causal", tie_word_embeddings=True)
    query, docs = "what is a cat", ["a cat is an animal", "the sky is blue today", "cat"]
    prompt = "Is passage B about the query A ? Answer yes or no ."
    expected = reference_json("flagembedding_reranker_reference.py", "--kind", "llm", "--model", path,
                              "--pairs", json.dumps([[query, d] for d in docs]), "--prompts", "", prompt)
    w = worker(path, json_model_override_args='{"classifier_from_token": ["yes"], "method": "no_post_processing"}')
    for instruction in ("", prompt):
        single, mis = templated_both_ways(w, query, docs, "bge_reranker", instruction or None)
        ref = torch.tensor(expected[instruction]["last"])
        torch.testing.assert_close(single, ref, atol=1e-5, rtol=0)
        torch.testing.assert_close(mis, ref, atol=1e-5, rtol=0)


def test_gemma2_conversion_is_refused_for_its_capped_logits(tiny_model):
    path = tiny_model("gemma2", "causal")
    with pytest.raises(ValueError, match="soft-caps its final logits"):
        worker(path, json_model_override_args='{"classifier_from_token": ["yes"]}')


def test_vaultgemma_equals_transformers_single_item_and_mis(tiny_model):
    """VaultGemma: Gemma2's block without its post-attention and post-MLP norms (a 4-position sliding layer,
    soft-capped scores and logits kept), against a 9-token query and items crossing the window's edge."""
    path = tiny_model("vaultgemma", "causal")
    w = worker(path)
    layer = w.model.model.layers[0]
    assert not layer.sandwich_norms and not hasattr(layer, "post_feedforward_layernorm")
    assert layer.self_attn.window == 4 and layer.self_attn.softcap == 5.0
    assert_both_ways_match_transformers(w, path, [3, 9, 20], (0, 7))


def test_emu3s_text_model_equals_transformers_as_llama(tiny_model):
    """Emu3ForCausalLM (Emu3's language model alone): Llama's block under Emu3's config."""
    path = tiny_model("emu3", "causal")
    assert_both_ways_match_transformers(worker(path), path, [3, 9, 20], (0, 7))
