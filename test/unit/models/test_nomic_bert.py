"""NomicBERT beyond the shared encoder matrix (test_encoder_models.py): both tensor layouts (the
original remote-code names, which transformers 5 itself saves, and transformers' module names),
and nomic-embed's use: mean pooling with task prompts, equal to sentence-transformers."""

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from multiscore.configs.model_kind import ModelKind
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from remote_code_checkpoints import with_transformers_names
from test_encoder_models import QUERIES, load_ours, run_packed
from worker_batches import worker

ORIGINAL_TO_TRANSFORMERS = {"encoder.layers.": "layers.", "emb_ln.": "embeddings.LayerNorm.",
                            "attn.out_proj.": "self_attn.o_proj.", "mlp.fc11.": "mlp.up_proj.",
                            "mlp.fc12.": "mlp.gate_proj.", "mlp.fc2.": "mlp.down_proj.",
                            "norm1.": "post_attention_layernorm.", "norm2.": "post_mlp_layernorm."}


def test_both_tensor_layouts_load_to_the_same_model(tiny_model, tmp_path):
    path = tiny_model("nomic_bert", "embed")
    original = load_file(str(path / "model.safetensors"))
    assert "encoder.layers.0.attn.Wqkv.weight" in original  # what transformers saves
    other = with_transformers_names(path, tmp_path / "transformers-names", "attn.Wqkv", ORIGINAL_TO_TRANSFORMERS)
    seqs = [(list(range(5, 17)), [0] * 12), (list(range(20, 25)), [0, 0, 1, 1, 1])]
    torch.testing.assert_close(run_packed(load_ours(other), seqs)[0], run_packed(load_ours(path), seqs)[0], atol=0, rtol=0)


def test_mean_pooling_with_prompts_equals_sentence_transformers(tiny_model, tmp_path):
    """nomic-embed's files: mean pooling, Normalize, and task prefixes as prompts."""
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    from st_files import write_sentence_transformers_files

    path = tmp_path / "nomic-embed"
    shutil.copytree(tiny_model("nomic_bert", "embed"), path)
    write_sentence_transformers_files(path, "mean", normalize=True, max_seq_length=128)
    prompts = {"query": "search query : ", "document": "search document : "}
    (path / "config_sentence_transformers.json").write_text(json.dumps({"prompts": prompts, "default_prompt_name": None}))
    expected = SentenceTransformer(str(path), device="cpu").encode(QUERIES, prompt_name="query", convert_to_numpy=True)
    w = worker(path)
    assert w.model.kind is ModelKind.ENCODER_EMBEDDING
    tok = AutoTokenizer.from_pretrained(str(path))
    encoded = [tok(prompts["query"] + q, return_token_type_ids=True) for q in QUERIES]
    seqs = [ScoreSequence(str(i), e["input_ids"], 0, 1, PoolingParams(activation="default"), token_type_ids=e["token_type_ids"])
            for i, e in enumerate(encoded)]
    np.testing.assert_allclose(torch.cat(w.forward(seqs)).numpy(), expected, atol=1e-5)


def test_an_activation_other_than_swiglu_is_refused(tiny_model):
    with pytest.raises(ValueError, match="hidden_act 'gelu' is not supported"):
        load_ours(tiny_model("nomic_bert", "embed"), json_model_override_args='{"hidden_act": "gelu"}')


ORIGINAL_LAYOUT = {"hidden_size": "n_embd", "num_attention_heads": "n_head", "num_hidden_layers": "n_layer",
                   "intermediate_size": "n_inner", "max_position_embeddings": "n_positions",
                   "layer_norm_eps": "layer_norm_epsilon"}


def original_layout_config(path, tmp_path, **options):
    """A copy of ``path`` whose config.json is written as the original remote code writes it (GPT-2
    style keys, the rope base as ``rotary_emb_base``), plus ``options``."""
    other = tmp_path / "original-config"
    shutil.copytree(path, other)
    config = json.loads((path / "config.json").read_text())
    for ours, original in ORIGINAL_LAYOUT.items():
        config[original] = config.pop(ours)
    config["rotary_emb_base"] = config.pop("rope_parameters")["rope_theta"]
    config.pop("head_dim", None)
    config.update({"activation_function": "swiglu", "qkv_proj_bias": False, "rotary_emb_fraction": 1.0, **options})
    (other / "config.json").write_text(json.dumps(config))
    return other


def test_an_original_layout_config_is_read_not_defaulted(tiny_model, tmp_path):
    # transformers' NomicBertConfig would ignore n_embd & co. and take hidden 768 / 12 heads / rope 1000.
    path = tiny_model("nomic_bert", "embed")
    other = original_layout_config(path, tmp_path)
    assert json.loads((path / "config.json").read_text())["hidden_size"] != 768
    seqs = [(list(range(5, 17)), [0] * 12), (list(range(20, 25)), [0, 0, 1, 1, 1])]
    torch.testing.assert_close(run_packed(load_ours(other), seqs)[0], run_packed(load_ours(path), seqs)[0], atol=0, rtol=0)


@pytest.mark.parametrize("option, value", [("qkv_proj_bias", True), ("rotary_emb_fraction", 0.5),
                                           ("moe_every_n_layers", 2), ("activation_function", "gelu"),
                                           ("rotary_scaling_factor", 2.0)])
def test_original_options_these_layers_do_not_compute_are_refused(tiny_model, tmp_path, option, value):
    other = original_layout_config(tiny_model("nomic_bert", "embed"), tmp_path, **{option: value})
    with pytest.raises(ValueError, match=f"NomicBERT config {option}={value!r} is not supported"):
        load_ours(other)
