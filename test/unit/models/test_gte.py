"""GTE beyond the shared encoder matrices (test_encoder_models.py, test_token_classification.py,
test_sentence_transformers_dense.py): the original remote-code checkpoints (model_type ``new``,
``NewModel`` / ``NewForSequenceClassification``, a ``new.`` prefix, the original config keys),
served with no remote code; gte-base-en-v1.5's missing token types and NTK-scaled rotary; and the
refusals."""

import json

import pytest
import torch
from safetensors.torch import load_file

from multiscore.configs.checkpoint_layouts import read_hf_config
from remote_code_checkpoints import as_gte_original
from test_encoder_models import DOCS, QUERIES, encode, load_ours, load_reference, run_packed, run_reference

def original_layout(path, tmp_path, architecture, **options):
    return as_gte_original(path, tmp_path / "original", architecture, **options)


def test_transformers_saves_the_original_tensor_layout(tiny_model):
    names = load_file(str(tiny_model("gte", "seqcls") / "model.safetensors")).keys()
    assert {"gte.encoder.layer.0.attention.qkv_proj.weight", "gte.encoder.layer.1.mlp.up_gate_proj.weight",
            "gte.encoder.layer.0.attn_ln.weight", "gte.encoder.layer.0.mlp_ln.bias", "gte.pooler.dense.weight",
            "classifier.weight"} <= set(names)


@pytest.mark.parametrize("head, architecture, override", [
    ("seqcls", "NewForSequenceClassification", None), ("embed", "NewModel", None), ("tokcls", "NewForTokenClassification", None),
    ("seqcls", "NewForSequenceClassification", "GteNewForSequenceClassification"),  # vLLM's docs: --hf-overrides
    ("embed", "NewModel", "GteNewModel")])
def test_an_original_checkpoint_is_served_without_remote_code(tiny_model, tmp_path, head, architecture, override):
    from transformers import AutoTokenizer

    path = tiny_model("gte", head, num_labels=3)
    other = original_layout(path, tmp_path, architecture)
    config = read_hf_config(str(other))  # no trust_remote_code, no network
    assert type(config).__name__ == "GteConfig" and config.rope_parameters["rope_theta"] == 1000.0
    seqs = encode(AutoTokenizer.from_pretrained(path), QUERIES, DOCS)
    overrides = {} if override is None else {"json_model_override_args": json.dumps({"architectures": [override]})}
    ours_original, ours = run_packed(load_ours(other, **overrides), seqs), run_packed(load_ours(path), seqs)
    torch.testing.assert_close(ours_original[0], ours[0], atol=0, rtol=0)
    for a, b in zip(ours_original[1], ours[1]):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_no_token_type_table_as_gte_base_en_v1_5(tiny_model):
    """type_vocab_size 0: no token-type embeddings at all, equal to transformers."""
    from transformers import AutoTokenizer

    path = tiny_model("gte", "embed", type_vocab_size=0)
    assert "embeddings.token_type_embeddings.weight" not in load_file(str(path / "model.safetensors"))
    ours, ref = load_ours(path), load_reference(path, "embed")
    assert ours.model.embeddings.token_type_embeddings is None
    seqs = encode(AutoTokenizer.from_pretrained(path), QUERIES[:2], DOCS[:2])
    hidden, _ = run_packed(ours, seqs)
    start = 0
    for ids, types in seqs:
        expected = run_reference(ref, ids, types).hidden_states[-1][0]
        torch.testing.assert_close(hidden[start : start + len(ids)], expected, atol=1e-4, rtol=0)
        start += len(ids)


def test_ntk_scaled_rotary_as_gte_base_en_v1_5(tiny_model, tmp_path):
    """gte-base/large-en-v1.5's ``rope_scaling: {"type": "ntk", "factor": 2.0}``, which transformers
    cannot build: against transformers' GteModel given the original code's NTK frequencies
    (NTKScalingRotaryEmbedding: base x factor, every frequency / factor^(2/dim), at any length)."""
    from transformers import AutoModel, AutoTokenizer

    path = tiny_model("gte", "embed", type_vocab_size=0)
    other = original_layout(path, tmp_path, "NewModel", rope_scaling={"type": "ntk", "factor": 2.0})
    ref = AutoModel.from_pretrained(str(path)).eval()
    dim, base, factor = 16, 1000.0, 2.0  # head_dim 64 / 4 heads; the tiny model's rope base
    ntk = 1.0 / ((base * factor) ** (torch.arange(0, dim, 2).float() / dim)) / factor ** (2 / dim)
    assert not torch.allclose(ntk, ref.rotary_emb.inv_freq)  # the scaling changes the frequencies
    ref.rotary_emb.inv_freq.copy_(ntk)
    seqs = encode(AutoTokenizer.from_pretrained(path), QUERIES[:2], DOCS[:2])
    hidden, _ = run_packed(load_ours(other), seqs)
    start = 0
    for ids, types in seqs:
        torch.testing.assert_close(hidden[start : start + len(ids)], run_reference(ref, ids, types).hidden_states[-1][0],
                                   atol=1e-4, rtol=0)
        start += len(ids)


@pytest.mark.parametrize("option, value, message", [
    ("rope_scaling", {"type": "ntk", "factor": 2.0, "mixed_b": 0.5}, "rope scaling 'ntk' with mixed_b"),
    ("logn_attention_scale", True, "GTE config logn_attention_scale=True is not supported"),
    ("position_embedding_type", "absolute", "GTE config position_embedding_type='absolute' is not supported"),
    ("rotary_emb_dim", 8, "GTE config rotary_emb_dim=8 is not supported"),
    ("hidden_act", "swish", "hidden_act 'swish' is not supported"),
])
def test_original_options_these_layers_do_not_compute_are_refused(tiny_model, tmp_path, option, value, message):
    other = original_layout(tiny_model("gte", "embed"), tmp_path, "NewModel", **{option: value})
    with pytest.raises(ValueError, match=message):
        load_ours(other)
