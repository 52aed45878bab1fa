"""NVIDIA's bidirectional Llama (llama-nemotron embed and rerank; remote code, model_type
``llama_bidirec``) against transformers' LlamaModel run with every token seeing every other, pooled
and scored as the remote code does (``pooling`` avg / cls / last, ``score`` / ``temperature``)."""

import shutil

import pytest
import torch
from safetensors.torch import load_file

from multiscore.configs.model_kind import ModelKind
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from hf_reference import bidirectional_llama_hidden
from remote_code_checkpoints import as_llama_bidirectional
from worker_batches import worker

TEXTS = [[5, 17, 30, 8, 9, 10, 11], [44, 9], [12, 13, 14, 15, 16, 70, 71, 72, 73]]


def as_bidirectional(path, tmp_path, architecture, **keys):
    return as_llama_bidirectional(path, architecture, out=tmp_path / "bidirectional", **keys)


def reference_hidden(path, ids):
    """transformers' LlamaModel on ``ids`` [L] with no causal mask -> last hidden states [L, H]."""
    return bidirectional_llama_hidden(path, ids)


def pooled(hidden, pooling):
    return {"avg": hidden.mean(0), "cls": hidden[0], "last": hidden[-1]}[pooling]


def test_reference_is_bidirectional(tiny_model):
    """Guards the reference: the first token's state changes when a later token does."""
    path = tiny_model("llama", "seqcls", num_labels=1)
    assert not torch.allclose(reference_hidden(path, [5, 6, 7])[0], reference_hidden(path, [5, 6, 8])[0])


@pytest.mark.parametrize("pooling", ["avg", "cls", "last"])
def test_reranker_equals_the_remote_code(tiny_model, tmp_path, pooling):
    path = tiny_model("llama", "seqcls", num_labels=1)
    other = as_bidirectional(path, tmp_path, "LlamaBidirectionalForSequenceClassification", pooling=pooling,
                             temperature=0.5)
    w = worker(other)
    assert w.model.kind is ModelKind.ENCODER_CLASSIFIER
    seqs = [ScoreSequence(str(i), ids, 0, 1, PoolingParams(activation="none")) for i, ids in enumerate(TEXTS)]
    ours = torch.cat(w.forward(seqs))
    score = load_file(str(path / "model.safetensors"))["score.weight"]  # [1, H]
    expected = torch.stack([pooled(reference_hidden(path, ids), pooling) @ score.T / 0.5 for ids in TEXTS])
    torch.testing.assert_close(ours, expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("pooling", ["avg", "last"])
def test_embedder_equals_the_remote_code(tiny_model, tmp_path, pooling):
    path = tiny_model("llama", "causal")
    other = as_bidirectional(path, tmp_path, "LlamaBidirectionalModel", pooling=pooling)
    w = worker(other)
    assert w.model.kind is ModelKind.ENCODER_EMBEDDING
    seqs = [ScoreSequence(str(i), ids, 0, 1, PoolingParams(activation="default")) for i, ids in enumerate(TEXTS)]
    ours = torch.cat(w.forward(seqs))
    expected = torch.stack([pooled(reference_hidden(path, ids), pooling) for ids in TEXTS])
    torch.testing.assert_close(ours, torch.nn.functional.normalize(expected, dim=-1), atol=1e-5, rtol=0)


def test_unknown_pooling_and_mis_are_refused(tiny_model, tmp_path):
    path = tiny_model("llama", "seqcls", num_labels=1)
    with pytest.raises(ValueError, match="pooling 'weighted_avg' is not supported"):
        worker(as_bidirectional(path, tmp_path, "LlamaBidirectionalForSequenceClassification", pooling="weighted_avg"))
    shutil.rmtree(tmp_path / "bidirectional")
    with pytest.raises(ValueError, match="its attention is bidirectional"):
        worker(as_bidirectional(path, tmp_path, "LlamaBidirectionalForSequenceClassification"),
               multi_item_scoring_delimiter=4)
