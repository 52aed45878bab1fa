"""Gemma 4 (text) against transformers: four layers, sliding and global by turns, the last two
reusing the first two's keys and values (KV sharing) with double-wide MLPs; global layers with wider
heads, one kv head whose values are its keys' projection and a partial "proportional" rotary;
per-layer embeddings, learned layer scalars, soft-capped logits; the 26B-A4B's experts; single-item
and MIS, the prefix cache, the bare model (causal and bidirectional), the multimodal checkpoints on
text, and the LLM-as-reranker conversion."""

import json
import shutil

import pytest
import torch

from make_tiny_model import _gemma4_config, build_tokenizer
from multiscore.configs.model_kind import ModelKind
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from worker_batches import mixed_inputs, score_both_ways, worker

LABELS = [3, 9, 20]
MOE = dict(enable_moe_block=True, num_experts=4, top_k_experts=2, moe_intermediate_size=32)
TEXTS = [[5, 17, 30, 8, 9, 10, 11], [44, 9], [12, 13, 14, 15, 16, 70, 71, 72, 73]]


def _label_softmax(logits_or_model, query, items):
    """Each item alone through transformers: the softmax over LABELS of its last token's logits
    (spread over [0, 1], so a wrong layer shows; raw probabilities of a 320-token vocabulary are ~1e-3)."""
    rows = []
    with torch.no_grad():
        for item in items:
            logits = logits_or_model(input_ids=torch.tensor([query + item])).logits[0, -1].float()
            rows.append(torch.softmax(logits[LABELS], -1).tolist())
    return torch.tensor(rows)


def _hf_causal(path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32).eval()


def _assert_scores_as_transformers(w, hf_model, seeds=(0, 7)):
    for seed in seeds:
        query, items = mixed_inputs(seed=seed)
        single, mis = score_both_ways(w, query, items, LABELS, apply_softmax=True)
        ref = _label_softmax(hf_model, query, items)
        torch.testing.assert_close(torch.tensor(single), ref, atol=1e-5, rtol=0)
        torch.testing.assert_close(torch.tensor(mis), ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("moe", [False, True], ids=["dense", "experts"])
def test_gemma4_equals_transformers_single_item_and_mis(tiny_model, moe):
    """A 9-token query against a 4-token window: MIS items see the query keys they would see alone,
    in the sliding layers and in the layers that reuse their keys."""
    path = tiny_model("gemma4", "causal", **(MOE if moe else {}))
    _assert_scores_as_transformers(worker(path), _hf_causal(path))


def test_layers_take_their_own_shapes_and_the_last_two_compute_no_keys(tiny_model):
    from safetensors.torch import load_file

    path = tiny_model("gemma4", "causal")
    w = worker(path)
    layers = w.model.model.layers
    assert [tuple(layer.self_attn.qkv_proj.shard_rows) for layer in layers] == [("q", "k", "v"), ("q", "k"), ("q",), ("q",)]
    assert [(layer.self_attn.num_kv_heads, layer.self_attn.head_dim) for layer in layers] == [(2, 16), (1, 32)] * 2
    assert [layer.mlp.intermediate_size for layer in layers] == [128, 128, 256, 256]  # double-wide where KV is shared
    assert w.prefix_cache.tree.pool.layer_shapes == [(2, 16), (1, 32)]  # only the layers that compute keys
    stored = load_file(str(path / "model.safetensors"))
    for i, layer in enumerate(layers):
        torch.testing.assert_close(layer.layer_scalar.detach(), stored[f"model.layers.{i}.layer_scalar"])
    assert not torch.equal(layers[0].layer_scalar.detach(), torch.ones(1))


def test_per_layer_embeddings_and_layer_scalars_change_the_scores(tiny_model):
    """Guards the parity test: without either, the scores move well past its tolerance."""
    w = worker(tiny_model("gemma4", "causal"))
    query, items = mixed_inputs(seed=3)
    before = torch.tensor(score_both_ways(w, query, items, LABELS, apply_softmax=True)[0])
    body = w.model.model
    with torch.no_grad():
        body.embed_tokens_per_layer.weight.zero_()
        after_ple = torch.tensor(score_both_ways(w, query, items, LABELS, apply_softmax=True)[0])
        for layer in body.layers:
            layer.layer_scalar.fill_(1.0)
        after_scalars = torch.tensor(score_both_ways(w, query, items, LABELS, apply_softmax=True)[0])
    assert (before - after_ple).abs().max() > 1e-3
    assert (after_ple - after_scalars).abs().max() > 1e-3


def test_keys_and_values_of_sharing_layers_in_the_checkpoint_are_left_unused(tiny_model, tmp_path):
    """Original checkpoints may still hold k/v projections of the layers that reuse others'
    (transformers drops them on load): they load, unused, and change nothing."""
    from safetensors.torch import load_file, save_file

    src = tiny_model("gemma4", "causal")
    shutil.copytree(src, tmp_path / "m")
    tensors = load_file(str(src / "model.safetensors"))
    for name, shape in (("k_proj.weight", (32, 64)), ("v_proj.weight", (32, 64)), ("k_norm.weight", (16,))):
        tensors[f"model.layers.2.self_attn.{name}"] = torch.randn(shape)
    tensors["model.layers.1.self_attn.v_proj.weight"] = torch.randn(32, 64)  # values are the keys there
    save_file(tensors, str(tmp_path / "m" / "model.safetensors"), metadata={"format": "pt"})
    query, items = mixed_inputs(seed=1)
    expected = score_both_ways(worker(src), query, items, LABELS)
    torch.testing.assert_close(torch.tensor(score_both_ways(worker(tmp_path / "m"), query, items, LABELS)[0]),
                               torch.tensor(expected[0]), atol=0, rtol=0)


def test_flashinfer_is_refused_with_the_reason(tiny_model):
    with pytest.raises(ValueError, match="differ in head size or kv heads.*--attention-backend torch"):
        worker(tiny_model("gemma4", "causal"), attention_backend="flashinfer")


def _bare(tiny_model, tmp_path, bidirectional: bool):
    path = tmp_path / "bare"
    shutil.copytree(tiny_model("gemma4", "causal"), path)
    config = json.loads((path / "config.json").read_text())
    config.update(architectures=["Gemma4TextModel"], use_bidirectional_attention="all" if bidirectional else None)
    (path / "config.json").write_text(json.dumps(config))
    return path


@pytest.mark.parametrize("bidirectional, by_override", [(False, False), (True, False), (True, True)],
                         ids=["causal", "bidirectional", "bidirectional-by-override"])
def test_the_bare_model_embeds_as_transformers(tiny_model, tmp_path, bidirectional, by_override):
    """The last token, normalised. Bidirectional (``use_bidirectional_attention: "all"``, in config.json
    or as an override), the sliding layers see keys up to transformers' inclusive radius away on either side."""
    from transformers import AutoModel

    path = _bare(tiny_model, tmp_path, bidirectional)
    override = '{"architectures": ["Gemma4TextModel"], "use_bidirectional_attention": "all"}'
    w = worker(tiny_model("gemma4", "causal"), json_model_override_args=override) if by_override else worker(path)
    assert w.model.kind is (ModelKind.ENCODER_EMBEDDING if bidirectional else ModelKind.DECODER_EMBEDDING)
    assert w.causal is not bidirectional
    seqs = [ScoreSequence(str(i), ids, 0, 1, PoolingParams(activation="default")) for i, ids in enumerate(TEXTS)]
    ours = torch.cat(w.forward(seqs))
    hf = AutoModel.from_pretrained(str(path), dtype=torch.float32).eval()
    with torch.no_grad():
        last = torch.stack([hf(input_ids=torch.tensor([ids])).last_hidden_state[0, -1] for ids in TEXTS])
    torch.testing.assert_close(ours, torch.nn.functional.normalize(last, dim=-1), atol=1e-5, rtol=0)


def test_the_lm_head_refuses_bidirectional_attention(tiny_model):
    with pytest.raises(ValueError, match="is_causal false"):
        worker(tiny_model("gemma4", "causal"), json_model_override_args='{"use_bidirectional_attention": "all"}')


def _multimodal(vocab: int, bare: bool):
    from transformers import Gemma4Config, Gemma4ForConditionalGeneration, Gemma4Model

    text = dict(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2,
                head_dim=16, max_position_embeddings=4096, initializer_range=0.1, **_gemma4_config(vocab))
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                  num_key_value_heads=2, head_dim=16, patch_size=14)
    special = dict(boi_token_id=vocab - 3, eoi_token_id=vocab - 2, image_token_id=vocab - 1, video_token_id=vocab - 4,
                   boa_token_id=vocab - 5, eoa_token_index=vocab - 6, audio_token_id=vocab - 7)
    config = Gemma4Config(text_config=text, vision_config=vision, audio_config=None, **special)
    torch.manual_seed(0)
    return (Gemma4Model if bare else Gemma4ForConditionalGeneration)(config).eval()


@pytest.mark.parametrize("bare", [False, True], ids=["ForConditionalGeneration", "Model"])
def test_multimodal_checkpoints_serve_their_language_model(tmp_path, bare):
    """Saved by transformers with the vision tower (``model.language_model.*``): scored on text as
    transformers' multimodal model, single-item and MIS; the bare one embeds as its text model."""
    from safetensors import safe_open

    tokenizer = build_tokenizer("gemma3")
    model = _multimodal((len(tokenizer) + 63) // 64 * 64, bare)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as f:
        assert any(name.startswith(("model.vision_tower.", "vision_tower.")) for name in f.keys())
    w = worker(tmp_path)
    assert type(w.model).__name__ == ("Gemma4TextModel" if bare else "Gemma4ForCausalLM")
    if not bare:
        _assert_scores_as_transformers(w, model, seeds=(2,))
        return
    seqs = [ScoreSequence(str(i), ids, 0, 1, PoolingParams(activation="default")) for i, ids in enumerate(TEXTS)]
    with torch.no_grad():
        last = torch.stack([model(input_ids=torch.tensor([ids])).last_hidden_state[0, -1] for ids in TEXTS])
    torch.testing.assert_close(torch.cat(w.forward(seqs)), torch.nn.functional.normalize(last, dim=-1), atol=1e-5, rtol=0)


def test_converted_to_a_reranker_by_classifier_from_token(tiny_model):
    """vLLM's LLM-as-reranker: one label from two LM-head rows, as Gemma4ForSequenceClassification
    (ours; transformers has none). Soft-capped logits cannot be converted, and say so."""
    from transformers import AutoTokenizer

    path = tiny_model("gemma4", "causal", final_logit_softcapping=None)
    tokens = AutoTokenizer.from_pretrained(str(path)).convert_ids_to_tokens(LABELS[:2])
    overrides = {"architectures": ["Gemma4ForSequenceClassification"], "classifier_from_token": tokens,
                 "method": "from_2_way_softmax"}
    w = worker(path, json_model_override_args=json.dumps(overrides))
    assert w.model.kind is ModelKind.DECODER_CLASSIFIER
    query, items = mixed_inputs(seed=2)
    single, mis = score_both_ways(w, query, items, None)
    hf = _hf_causal(path)
    with torch.no_grad():
        logits = torch.stack([hf(input_ids=torch.tensor([query + item])).logits[0, -1, LABELS[:2]] for item in items])
    expected = (logits[:, 1] - logits[:, 0])[:, None]  # logit(p1 / (p0 + p1))
    torch.testing.assert_close(torch.tensor(single), expected, atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), expected, atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="soft-caps its final logits"):
        worker(tiny_model("gemma4", "causal"), json_model_override_args=json.dumps(overrides))


def test_the_kv_sharing_layers_run_on_the_read_rows_only(tiny_model):
    """They make no keys, so no row reads theirs: only each item's read-out row goes through them
    (here 5 single-item sequences and 5 MIS items: 10 rows), and the scores are those of every row
    going through every layer."""
    w = worker(tiny_model("gemma4", "causal"))
    rows_seen = {}

    def record(i):
        def hook(module, args, out):
            rows_seen.setdefault(i, args[0].shape[0])  # the first batch's
        return hook

    for i, layer in enumerate(w.model.model.layers):
        layer.mlp.register_forward_hook(record(i))
    query, items = mixed_inputs(seed=4)
    fast = score_both_ways(w, query, items, LABELS, apply_softmax=True)
    total = sum(len(query) + len(it) for it in items) + len(query) + sum(len(it) + 1 for it in items) + 1
    assert rows_seen == {0: total, 1: total, 2: 10, 3: 10}
    w.model.model.shared_layers_read_rows_only = False
    slow = score_both_ways(w, query, items, LABELS, apply_softmax=True)
    for a, b in zip(fast, slow):
        torch.testing.assert_close(torch.tensor(a), torch.tensor(b), atol=1e-6, rtol=0)


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="torch built without oneDNN")
def test_packed_weights_score_as_transformers(tiny_model, monkeypatch):
    """oneDNN's packed layout for every linear layer (per-layer embedding projections included), as
    on an AVX-512 CPU; the experts' 3-D weights stay as they are."""
    from multiscore.layers import linear

    monkeypatch.setattr(linear, "cpu_capability", lambda: "AVX512")  # packed float32 on an AVX2 CPU too
    path = tiny_model("gemma4", "causal", **MOE)
    w = worker(path)
    assert w.linear_kernel.startswith("oneDNN packed weights (")
    assert w.model.model.per_layer_model_projection.packed_weight is not None
    _assert_scores_as_transformers(w, _hf_causal(path), seeds=(1,))


def test_embedding_overrides_score_as_transformers_given_the_vectors(tiny_model):
    """SGLang's item embedding overrides: the given vector replaces the placeholder's embedding, and
    its per-layer embeddings are those transformers' multimodal Gemma 4 gives an image's rows (the
    vector projected; the pad token's own rows)."""
    import numpy as np

    path = tiny_model("gemma4", "causal")
    w = worker(path)
    hf = _hf_causal(path)
    placeholder, gen = 7, torch.Generator().manual_seed(5)
    query, items = [11, 12, 13], [[20, placeholder, 21], [22, 23]]
    vectors = torch.randn(1, 64, generator=gen)
    pooling = PoolingParams(label_token_ids=LABELS, activation="softmax")
    seqs = [ScoreSequence("a", query + items[0], 0, 1, pooling, embed_rows=[4], embeds=vectors.numpy().astype(np.float32)),
            ScoreSequence("b", query + items[1], 1, 1, pooling)]
    ours = torch.cat(w.forward(seqs))
    expected = []
    with torch.no_grad():
        for item, given in ((items[0], vectors), (items[1], None)):
            ids = torch.tensor([query + item])
            embeds = hf.model.embed_tokens(ids)
            ple_ids = ids.clone()
            if given is not None:
                embeds[0, 4] = given[0]
                ple_ids[0, 4] = hf.config.pad_token_id
            per_layer = hf.model.get_per_layer_inputs(ple_ids)
            logits = hf(inputs_embeds=embeds, per_layer_inputs=per_layer).logits[0, -1, LABELS]
            expected.append(torch.softmax(logits, -1))
    torch.testing.assert_close(ours, torch.stack(expected), atol=1e-5, rtol=0)
    plain = torch.cat(w.forward([ScoreSequence("a", query + items[0], 0, 1, pooling)]))
    assert (plain[0] - ours[0]).abs().max() > 1e-3  # the vector does change the score


def test_bidirectional_vision_leaves_text_causal(tiny_model):
    """``use_bidirectional_attention: "vision"`` (the multimodal checkpoints' setting) makes only image
    tokens see each other; text, all that is served here, scores as without it."""
    path = tiny_model("gemma4", "causal")
    w = worker(path, json_model_override_args='{"use_bidirectional_attention": "vision"}')
    assert w.causal
    query, items = mixed_inputs(seed=6)
    torch.testing.assert_close(torch.tensor(score_both_ways(w, query, items, LABELS)[1]),
                               torch.tensor(score_both_ways(worker(path), query, items, LABELS)[1]), atol=0, rtol=0)
