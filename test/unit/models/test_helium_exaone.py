"""Helium (interleaved-pair rotary, biased q/k/v but not o_proj) and EXAONE 3.x (Llama under GPT-2-style
names, loaded by transformers through its own renames) against transformers, single-item and MIS."""

import json

import pytest
from safetensors.torch import load_file, save_file

from worker_batches import assert_both_ways_equal_transformers, worker


@pytest.mark.parametrize("head", ["causal", "seqcls"])
def test_helium_equals_transformers_single_item_and_mis(tiny_model, head):
    path = tiny_model("helium", head)
    w = worker(path)
    attention = w.model.model.layers[0].self_attn
    assert attention.qkv_proj.bias is not None and attention.o_proj.bias is None
    for seed in (3, 8):
        assert_both_ways_equal_transformers(path, head, seed=seed, w=w)


# Llama's names -> EXAONE's published ones (the inverse of what transformers renames as it loads)
EXAONE_NAMES = [("model.embed_tokens.", "transformer.wte."), ("model.layers.", "transformer.h."),
                ("model.norm.", "transformer.ln_f."), (".self_attn.o_proj.", ".attn.attention.out_proj."),
                (".self_attn.", ".attn.attention."), (".input_layernorm.", ".ln_1."),
                (".post_attention_layernorm.", ".ln_2."), (".mlp.gate_proj.", ".mlp.c_fc_0."),
                (".mlp.up_proj.", ".mlp.c_fc_1."), (".mlp.down_proj.", ".mlp.c_proj.")]
EXAONE_KEYS = {"num_hidden_layers": "num_layers", "rms_norm_eps": "layer_norm_epsilon", "hidden_act": "activation_function"}


def test_exaone_as_published_equals_transformers_single_item_and_mis(tiny_model, tmp_path):
    import shutil

    exaone = tmp_path / "exaone"
    shutil.copytree(tiny_model("llama", "causal"), exaone)
    tensors = {}
    for name, tensor in load_file(str(exaone / "model.safetensors")).items():
        for ours, theirs in EXAONE_NAMES:
            name = name.replace(ours, theirs, 1) if ours in name and theirs not in name else name
        tensors[name] = tensor
    assert "transformer.h.0.attn.attention.out_proj.weight" in tensors and "transformer.h.0.mlp.c_fc_0.weight" in tensors
    save_file(tensors, str(exaone / "model.safetensors"), metadata={"format": "pt"})
    config = json.loads((exaone / "config.json").read_text())
    config = {EXAONE_KEYS.get(k, k): v for k, v in config.items()}
    config.update(model_type="exaone", architectures=["ExaoneForCausalLM"])
    (exaone / "config.json").write_text(json.dumps(config))
    w = worker(exaone)
    assert type(w.model).__name__ == "ExaoneForCausalLM"
    for seed in (3, 8):
        assert_both_ways_equal_transformers(exaone, "causal", seed=seed, w=w)
