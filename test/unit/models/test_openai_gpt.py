"""OpenAI GPT (GPT-1) against transformers, single-item and MIS: GPT-2's attention and Conv1D projections in
post-norm blocks with no final norm, learned positions, the LM tied to the token embeddings; causal LM and
classifier; the original checkpoint's unprefixed names."""

import pytest
from safetensors.torch import load_file, save_file

from worker_batches import LABELS, assert_both_ways_equal_transformers, mixed_inputs, score_both_ways, worker


@pytest.mark.parametrize("head", ["causal", "seqcls"])
def test_openai_gpt_equals_transformers_single_item_and_mis(tiny_model, head):
    path = tiny_model("openai-gpt", head)
    w = worker(path)
    assert type(w.model.model.h[0]).__name__ == "OpenAIGPTBlock"
    for seed in (2, 5):
        assert_both_ways_equal_transformers(path, head, seed=seed, w=w)


def test_gpts_gelu_is_the_tanh_approximation(tiny_model):
    """Larger weights, so the MLP's inputs reach where the exact GELU and GPT's tanh one part."""
    assert_both_ways_equal_transformers(tiny_model("openai-gpt", "seqcls", initializer_range=0.6), "seqcls", seed=2)


def test_the_original_unprefixed_names_load(tiny_model, tmp_path):
    """openai-community/openai-gpt's own files: ``h.0.attn.c_attn.weight`` ..., no ``transformer.``, no LM head."""
    path = tiny_model("openai-gpt", "causal")
    for f in path.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    tensors = load_file(str(path / "model.safetensors"))
    renamed = {name.removeprefix("transformer."): t for name, t in tensors.items() if name != "lm_head.weight"}
    assert "h.0.attn.c_attn.weight" in renamed and "tokens_embed.weight" in renamed
    save_file(renamed, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    query, items = mixed_inputs(seed=2)
    ours, _ = score_both_ways(worker(tmp_path), query, items, LABELS)
    expected, _ = score_both_ways(worker(path), query, items, LABELS)
    assert ours == expected
