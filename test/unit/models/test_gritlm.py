"""GritLM (vLLM's ``GritLM`` architecture) against the ``gritlm`` package's ``GritLM.encode`` on a tiny
Mistral checkpoint with a Mistral-like SentencePiece tokenizer: bidirectional attention, the mean of the
text's tokens only (the instruction before ``<|embed|>\\n`` left out), normalised."""

import asyncio
import json
import shutil

import pytest
import torch

from multiscore.configs.model_config import ModelConfig
from multiscore.configs.model_kind import ModelKind
from multiscore.entrypoints.serving.embed import EmbedServing, check_text_after_instruction
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from multiscore.server_args import ServerArgs
from reference_venv import reference_json
from tiny_tokenizers import build_tokenizer
from worker_batches import worker

TEXTS = ["the capital of california", "cat and dog", "a"]
INSTRUCTIONS = ["<|user|>\nFind the city\n<|embed|>\n", "<|embed|>\n"]


def as_gritlm(path, out):
    """A copy of a tiny Mistral checkpoint as vLLM serves GritLM: architecture GritLM, the GritLM tokenizer."""
    shutil.copytree(path, out)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (out / name).unlink(missing_ok=True)
    build_tokenizer("gritlm").save_pretrained(out)
    config = json.loads((out / "config.json").read_text())
    config["architectures"] = ["GritLM"]
    (out / "config.json").write_text(json.dumps(config))
    return out


@pytest.fixture(scope="module")
def gritlm(tiny_model, tmp_path_factory):
    path = tiny_model("mistral", "causal", vocab_size=384, sliding_window=4)
    return as_gritlm(path, tmp_path_factory.mktemp("gritlm") / "model")


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer("gritlm")


def embed(w, ids_list):
    seqs = [ScoreSequence(str(i), ids, 0, 1, PoolingParams(activation="default")) for i, ids in enumerate(ids_list)]
    return torch.cat(w.forward(seqs))


def test_embeddings_equal_the_gritlm_package(gritlm, tokenizer):
    w = worker(gritlm)
    assert w.model.kind is ModelKind.ENCODER_EMBEDDING
    expected = reference_json("gritlm_reference.py", "--model", gritlm, "--texts", json.dumps(TEXTS),
                              "--instructions", json.dumps(INSTRUCTIONS))
    for instruction in INSTRUCTIONS:
        ours = embed(w, [tokenizer(instruction + t)["input_ids"] for t in TEXTS])
        torch.testing.assert_close(ours, torch.tensor(expected[instruction]), atol=1e-5, rtol=0)


def test_the_instruction_takes_no_part(gritlm, tokenizer):
    """Two instructions, one text: the same tokens are averaged, yet each instruction's tokens were seen."""
    w = worker(gritlm)
    one, other = (embed(w, [tokenizer(f"<|user|>\n{i}\n<|embed|>\ncat and dog")["input_ids"]]) for i in ("Find it", "Rank"))
    assert (one - other).abs().max() > 1e-4  # the text attends to the instruction it follows


@pytest.mark.parametrize("text, left_out", [
    ("<|user|>\nFind the city\n<|embed|>\nthe city", "<|user|>\nFind the city\n<|embed|>\n"),
    ("<|embed|>\nthe city", "<|embed|>\n"),
    ("the city <|embed|>\nand more", "the city <|embed|>\n"),  # the marker where it stands
    ("<|user|>\nno marker after it", ""),  # no marker: <s> alone (vLLM's rule)
    ("the city", ""),
])
def test_instruction_length_is_vllms_rule(gritlm, tokenizer, text, left_out):
    markers = ModelConfig.from_server_args(ServerArgs(model_path=str(gritlm))).hf_config.gritlm_markers
    ids = tokenizer(text)["input_ids"]
    assert markers.instruction_length(ids) == len(tokenizer(left_out)["input_ids"])
    assert markers.instruction_length(ids[1:]) == 0  # no <s>: nothing left out


def test_config_drops_the_sliding_window_and_checks_the_tokenizer(gritlm, tiny_model, tmp_path):
    config = ModelConfig.from_server_args(ServerArgs(model_path=str(gritlm)))
    assert config.hf_config.sliding_window is None and config.pooling.mode == "mean"
    markers = config.hf_config.gritlm_markers
    check_text_after_instruction(config, [[markers.bos, 300], [markers.bos, *markers.embed, 300]])
    wordlevel = tmp_path / "wordlevel"
    shutil.copytree(tiny_model("mistral", "causal"), wordlevel)
    overrides = json.dumps({"architectures": ["GritLM"]})
    with pytest.raises(ValueError, match="by the pieces of Mistral's tokenizer, and this tokenizer has no '<s>'"):
        ModelConfig.from_server_args(ServerArgs(model_path=str(wordlevel), json_model_override_args=overrides))


class _Tokenized:
    """The tokenizer manager as far as EmbedServing.embed goes before it runs the model."""

    def __init__(self, ids):
        self.ids = ids

    async def tokenize_inputs(self, inputs, **kwargs):
        return self.ids


def test_an_input_with_nothing_after_its_instruction_is_refused(gritlm, tokenizer):
    config = ModelConfig.from_server_args(ServerArgs(model_path=str(gritlm)))
    texts = ["<|embed|>\nthe city", "<|user|>\nFind the city\n<|embed|>\n"]
    serving = EmbedServing(_Tokenized([tokenizer(t)["input_ids"] for t in texts]), config, None)
    with pytest.raises(ValueError, match="input 1 has no text after its instruction"):
        asyncio.run(serving.embed(texts))
