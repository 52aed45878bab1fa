"""GPT-2 against transformers: learned absolute positions, LayerNorms, Conv1D projections stored
[in, out]; the LM read at label tokens and the classifier, single-item and MIS (each item token at
its single-item position), and with the scores scaled by layer (``scale_attn_by_inverse_layer_idx``);
the original checkpoints' unprefixed tensor names; embedding overrides as transformers' inputs_embeds.
GPT-BigCode (StarCoder) on the same body: multi-query and multi-head attention; GPT-J; GPT-Neo."""

import pytest
import torch
from safetensors.torch import load_file, save_file

from multiscore.messages import PoolingParams
from worker_batches import LABELS, assert_both_ways_equal_transformers, mixed_inputs, score_both_ways, worker


@pytest.mark.parametrize("head", ["causal", "seqcls"])
def test_gpt2_equals_transformers_single_item_and_mis(tiny_model, head):
    assert_both_ways_equal_transformers(tiny_model("gpt2", head), head, seed=2)


@pytest.mark.parametrize("head", ["causal", "seqcls"])
@pytest.mark.parametrize("multi_query", [True, False], ids=["mqa", "mha"])
def test_gpt_bigcode_equals_transformers_single_item_and_mis(tiny_model, head, multi_query):
    """StarCoder's layout: nn.Linear projections; one key/value head (multi_query) or q/k/v rows per head."""
    path = tiny_model("gpt_bigcode", head, multi_query=multi_query)
    w = worker(path)
    attn = w.model.model.h[0].attn
    assert type(attn).__name__ == "BigCodeAttention" and attn.multi_query is multi_query
    assert tuple(attn.c_attn.weight.shape) == ((64 + 2 * 16) if multi_query else 3 * 64, 64)
    for seed in (2, 5):
        assert_both_ways_equal_transformers(path, head, seed=seed, w=w)


@pytest.mark.parametrize("head", ["causal", "seqcls"])
def test_gptj_equals_transformers_single_item_and_mis(tiny_model, head):
    """GPT-J: parallel blocks on one LayerNorm, rotary on the first 8 of 16 dims over (2i, 2i + 1) pairs,
    a biased MLP and LM head."""
    path = tiny_model("gptj", head)
    w = worker(path)
    assert type(w.model.model.layers[0]).__name__ == "ParallelLayer"
    assert head != "causal" or w.model.lm_head.bias is not None
    for seed in (2, 5):
        assert_both_ways_equal_transformers(path, head, seed=seed, w=w)


def test_codegen_equals_transformers_single_item_and_mis(tiny_model):
    """CodeGen: GPT-J's block; its fused qkv_proj holds 4 blocks of [q | v | k], read into our [q | k | v]."""
    path = tiny_model("codegen", "causal")
    w = worker(path)
    assert type(w.model.model.layers[0]).__name__ == "ParallelLayer"
    for seed in (2, 5):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)


@pytest.mark.parametrize("head", ["causal", "seqcls"])
def test_gpt_neo_equals_transformers_single_item_and_mis(tiny_model, head):
    """GPT-Neo: unscaled scores; a global layer, then a local one whose 4-position window every item crosses."""
    path = tiny_model("gpt_neo", head)
    w = worker(path)
    assert [block.attn.window for block in w.model.model.h] == [None, 4]
    for seed in (2, 5):
        assert_both_ways_equal_transformers(path, head, seed=seed, w=w)


def test_scores_scaled_by_layer(tiny_model):
    assert_both_ways_equal_transformers(tiny_model("gpt2", "causal", scale_attn_by_inverse_layer_idx=True), "causal", seed=2)


def test_the_original_unprefixed_names_load(tiny_model, tmp_path):
    """openai-community/gpt2's own files: ``h.0.attn.c_attn.weight`` ..., no ``transformer.`` and no LM head."""
    path = tiny_model("gpt2", "causal")
    for f in path.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    tensors = load_file(str(path / "model.safetensors"))
    renamed = {name.removeprefix("transformer."): t for name, t in tensors.items() if name != "lm_head.weight"}
    assert "h.0.attn.c_attn.weight" in renamed
    save_file(renamed, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    query, items = mixed_inputs(seed=2)
    ours, _ = score_both_ways(worker(tmp_path), query, items, LABELS)
    expected, _ = score_both_ways(worker(path), query, items, LABELS)
    assert ours == expected


def test_embedding_overrides_take_the_position_embeddings_as_inputs_embeds_do(tiny_model):
    from transformers import AutoModelForCausalLM

    from multiscore.model_executor.forward_batch import ScoreSequence

    path = tiny_model("gpt2", "causal")
    ids, vector = [5, 17, 33, 60], torch.randn(64, generator=torch.Generator().manual_seed(0))
    pooling = PoolingParams(label_token_ids=LABELS, activation="softmax")
    seq = ScoreSequence("e", ids, 0, 1, pooling, embed_rows=[2], embeds=vector[None].numpy())
    got = worker(path).forward([seq])[0]
    hf = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32).eval()
    with torch.no_grad():
        embeds = hf.transformer.wte(torch.tensor([ids]))
        embeds[0, 2] = vector
        logits = hf(inputs_embeds=embeds).logits[0, -1, LABELS]
    torch.testing.assert_close(got[0], torch.softmax(logits, -1), atol=1e-5, rtol=0)
