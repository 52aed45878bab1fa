"""Gemma3 (text) against transformers: q/k norms, global and sliding layers with their own rotary
bases (the global one linearly scaled, as Gemma3 4B+), a sliding window shorter than the query,
single-item and MIS; the bare model as an embedder, causal and bidirectional (EmbeddingGemma)."""

import numpy as np
import pytest
import torch

from multiscore.configs.model_kind import ModelKind
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from worker_batches import assert_both_ways_match_transformers, mixed_inputs, score_both_ways, worker

TEXTS = [[5, 17, 30, 8, 9, 10, 11], [44, 9], [12, 13, 14, 15, 16, 70, 71, 72, 73]]


@pytest.mark.parametrize("head", ["causal", "seqcls"])
@pytest.mark.parametrize("seed", [0, 7])
def test_gemma3_equals_transformers_single_item_and_mis(tiny_model, head, seed):
    """Layer 0 slides over 4 positions, layer 1 is global: items of 0-6 tokens after a 9-token
    query cross the window's edge, so MIS must measure it in single-item positions."""
    path = tiny_model("gemma3", head)
    assert_both_ways_match_transformers(worker(path), path, [3, 9, 20] if head == "causal" else None, [seed])


def test_sliding_layers_rotate_with_their_own_base(tiny_model):
    """Guards the parity test: the sliding layer's rotary (base 1e4) is not the global one (1e6, linear x8)."""
    w = worker(tiny_model("gemma3", "seqcls"))
    decoder = w.model.model
    assert decoder.layers[0].self_attn.local_rope and not decoder.layers[1].self_attn.local_rope
    ratio = decoder.rotary_emb.inv_freq[1] / decoder.local_rotary_emb.inv_freq[1]
    assert ratio.item() == pytest.approx((1e4 / 1e6) ** (2 / 16) / 8, rel=1e-5)
    query, items = mixed_inputs(seed=3)
    before, _ = score_both_ways(w, query, items, None)
    decoder.local_rotary_emb = decoder.rotary_emb
    after, _ = score_both_ways(w, query, items, None)
    assert max(abs(a - b) for x, y in zip(before, after) for a, b in zip(x, y)) > 1e-3


def test_gemma3_q_and_k_norms_are_loaded_as_one_plus_w(tiny_model):
    from safetensors.torch import load_file

    path = tiny_model("gemma3", "causal")
    stored = load_file(str(path / "model.safetensors"))["model.layers.0.self_attn.q_norm.weight"]
    loaded = worker(path).model.model.layers[0].self_attn.q_norm.weight.detach()
    torch.testing.assert_close(loaded, stored + 1.0)


def _embed(w, texts):
    seqs = [ScoreSequence(str(i), ids, 0, 1, PoolingParams(activation="default")) for i, ids in enumerate(texts)]
    return torch.cat(w.forward(seqs)).numpy()


def test_gemma3_text_model_embeds_as_transformers(tiny_model):
    from transformers import AutoModel

    path = tiny_model("gemma3", "causal")
    w = worker(path, json_model_override_args='{"architectures": ["Gemma3TextModel"]}')
    assert w.model.kind is ModelKind.DECODER_EMBEDDING
    hf = AutoModel.from_pretrained(str(path), dtype=torch.float32).eval()
    with torch.no_grad():
        ref = torch.stack([hf(input_ids=torch.tensor([ids])).last_hidden_state[0, -1] for ids in TEXTS])
    np.testing.assert_allclose(_embed(w, TEXTS), torch.nn.functional.normalize(ref, dim=-1).numpy(), atol=1e-5)


@pytest.mark.parametrize("arch", ["Gemma3ForCausalLM", "Gemma3TextForSequenceClassification"])
def test_bidirectional_heads_are_refused(tiny_model, arch):
    path = tiny_model("gemma3", "causal")
    with pytest.raises(ValueError, match="use_bidirectional_attention"):
        worker(path, json_model_override_args=f'{{"architectures": ["{arch}"], "use_bidirectional_attention": true}}')


IDENTITY = "torch.nn.modules.linear.Identity"
SENTENCES = ["the capital of the country is a big city", "a big dog", "music and history of the city in summer and winter"]


@pytest.fixture(scope="module")
def embedding_gemma(tiny_model, tmp_path_factory):
    """EmbeddingGemma's shape: a bidirectional Gemma3TextModel, mean pooling, Dense 64->96->64, Normalize."""
    import json
    import shutil

    from st_files import add_dense_module, write_sentence_transformers_files

    path = tmp_path_factory.mktemp("embeddinggemma") / "m"
    shutil.copytree(tiny_model("gemma3", "causal", use_bidirectional_attention=True), path)
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "architectures": ["Gemma3TextModel"]}))
    write_sentence_transformers_files(path, "mean", normalize=False, max_seq_length=128)
    modules = json.loads((path / "modules.json").read_text())
    modules += [add_dense_module(path, 2, 64, 96, False, IDENTITY, seed=1), add_dense_module(path, 3, 96, 64, False, IDENTITY, seed=2),
                {"idx": 4, "name": "4", "path": "4_Normalize", "type": "sentence_transformers.models.Normalize"}]
    (path / "4_Normalize").mkdir()
    (path / "modules.json").write_text(json.dumps(modules))
    return path


def test_embedding_gemma_equals_sentence_transformers(embedding_gemma):
    """Every token sees every other; the sliding layer sees keys less than 4 positions away on
    either side (sentences of 4-11 tokens cross that edge)."""
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    expected = SentenceTransformer(str(embedding_gemma), device="cpu").encode(SENTENCES, convert_to_numpy=True)
    w = worker(embedding_gemma)
    assert w.model.kind is ModelKind.ENCODER_EMBEDDING and not w.causal
    tok = AutoTokenizer.from_pretrained(str(embedding_gemma))
    got = _embed(w, [tok(s)["input_ids"] for s in SENTENCES])
    assert got.shape == expected.shape == (3, 64)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_bidirectional_attention_changes_the_embedding(embedding_gemma, tiny_model):
    """Guards the test above: the same weights read causally embed differently."""
    tok_ids = [[5, 17, 30, 8, 9, 10, 11, 12]]
    bidirectional = _embed(worker(embedding_gemma), tok_ids)
    causal = _embed(worker(embedding_gemma, json_model_override_args='{"use_bidirectional_attention": false}'), tok_ids)
    assert np.abs(bidirectional - causal).max() > 1e-3
