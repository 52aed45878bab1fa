"""scripts/make_tiny_model.py: every arch x head loads in `transformers`, sharded too, offline."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from make_tiny_model import ARCHS, HEADS, delimiter_id, make_tiny_model


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("arch", ARCHS)
def test_loads_in_transformers(tmp_path, arch, head):
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    path = make_tiny_model(tmp_path / "m", arch=arch, head=head, num_labels=5)
    config = json.loads((path / "config.json").read_text())
    suffix = "ForCausalLM" if head == "causal" else "ForSequenceClassification"
    assert config["architectures"][0].endswith(suffix)
    assert config["vocab_size"] % 64 == 0

    tok = AutoTokenizer.from_pretrained(path)
    assert len(tok) <= config["vocab_size"]
    d = delimiter_id(path)
    assert tok.convert_tokens_to_ids("<|sep|>") == d
    assert tok.pad_token_id == config["pad_token_id"]
    query = tok("What is the capital of California ?")["input_ids"]
    item = tok("Sacramento <|sep|> Los Angeles", add_special_tokens=False)["input_ids"]
    assert d in item
    assert tok.unk_token_id not in query + item
    # Llama prepends <bos> to the query only; the Qwen tokenizers add nothing.
    assert (query[0] == tok.convert_tokens_to_ids("<bos>")) == (arch == "llama")
    assert tok.convert_tokens_to_ids("<bos>") not in item

    cls = AutoModelForCausalLM if head == "causal" else AutoModelForSequenceClassification
    model = cls.from_pretrained(path).eval()
    assert next(model.parameters()).dtype == torch.float32
    with torch.no_grad():
        logits = model(torch.tensor([query + item])).logits
    assert logits.shape[-1] == (config["vocab_size"] if head == "causal" else 5)
    biases = [p for n, p in model.named_parameters() if n.endswith(".bias")]
    assert all(b.abs().sum() > 0 for b in biases)
    if arch == "qwen2":
        assert biases, "Qwen2 has q/k/v biases"


def test_sharded_same_weights(tmp_path):
    from safetensors.torch import load_file

    plain = make_tiny_model(tmp_path / "plain", arch="qwen2", head="causal")
    sharded = make_tiny_model(tmp_path / "sharded", arch="qwen2", head="causal", max_shard_size="100KB")
    index = json.loads((sharded / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 1
    merged = {}
    for shard in shards:
        merged.update(load_file(sharded / shard))
    reference = load_file(plain / "model.safetensors")
    assert merged.keys() == reference.keys()
    assert all(torch.equal(merged[k], reference[k]) for k in reference)


def test_config_overrides(tmp_path):
    path = make_tiny_model(tmp_path / "m", arch="qwen3", head="causal", tie_word_embeddings=True)
    assert json.loads((path / "config.json").read_text())["tie_word_embeddings"] is True


def test_cli(tmp_path):
    script = __import__("make_tiny_model").__file__
    out = subprocess.run(
        [sys.executable, script, "--out", str(tmp_path / "cli"), "--arch", "llama", "--head", "causal"],
        capture_output=True, text=True, check=True, timeout=300,
    ).stdout
    assert str(tmp_path / "cli") in out
    assert f"delimiter_id: {delimiter_id(tmp_path / 'cli')}" in out
