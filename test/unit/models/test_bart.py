"""BART classifiers (bart-large-mnli's architecture) against transformers: premise/hypothesis pairs
of different lengths packed in one batch, each pair's class logits and softmax equal to transformers
scoring it alone; a batch whose sequences fall into different chunks; the tied embeddings read from
whichever name a checkpoint stores them under; MIS refused (an encoder-decoder sees the pair whole)."""

import pytest
import torch
from safetensors.torch import load_file, save_file

from multiscore.configs.model_kind import ModelKind
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from worker_batches import worker

PAIRS = [
    ("the cat sat on the mat", "this text is about animals"),
    ("a quick brown fox jumps over the lazy dog again and again", "this is about sports"),
    ("hello", "this text is about greetings"),
    ("one two three four five six seven eight nine ten", "this text is about numbers and counting"),
]


@pytest.fixture(scope="module")
def checkpoint(tiny_model):
    return tiny_model("bart", "seqcls", num_labels=3)


def _pairs(path, pairs):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    return [tokenizer(a, b)["input_ids"] for a, b in pairs]


def _reference_logits(path, sequences):
    from transformers import BartForSequenceClassification

    model = BartForSequenceClassification.from_pretrained(str(path), dtype=torch.float32).eval()
    with torch.no_grad():
        return torch.stack([model(input_ids=torch.tensor([ids])).logits[0] for ids in sequences])


def _ours(w, sequences, activation):
    pooling = PoolingParams(activation=activation)
    out = w.forward([ScoreSequence(f"p{i}", ids, i, 1, pooling) for i, ids in enumerate(sequences)])
    return torch.cat(out)


def test_pairs_in_one_batch_equal_transformers_each_alone(checkpoint):
    sequences = _pairs(checkpoint, PAIRS)
    assert len({len(s) for s in sequences}) == len(sequences)  # different lengths: padding inside each chunk
    w = worker(checkpoint)
    assert w.model.kind is ModelKind.ENCODER_CLASSIFIER
    expected = _reference_logits(checkpoint, sequences)
    torch.testing.assert_close(_ours(w, sequences, "none"), expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(_ours(w, sequences, "default"), torch.softmax(expected, dim=-1), atol=1e-5, rtol=0)


def test_a_batch_across_several_chunks_equals_transformers(checkpoint):
    """20 pairs: more than one chunk of similar-length sequences (sequence_chunks.py takes 16)."""
    pairs = [(f"{'one two three ' * (1 + i % 5)}four", f"this text is about {'cats ' * (1 + i % 3)}") for i in range(20)]
    sequences = _pairs(checkpoint, pairs)
    torch.testing.assert_close(_ours(worker(checkpoint), sequences, "none"), _reference_logits(checkpoint, sequences),
                               atol=1e-5, rtol=0)


def test_tied_embeddings_under_the_encoders_name_only(checkpoint, tmp_path):
    """A checkpoint storing the token embeddings as ``model.encoder.embed_tokens`` (not ``model.shared``) loads alike."""
    import shutil

    copy = tmp_path / "bart"
    shutil.copytree(checkpoint, copy)
    tensors = load_file(copy / "model.safetensors")
    shared = tensors.pop("model.shared.weight", None)
    for name in ("model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight"):
        tensors.pop(name, None)
    tensors["model.encoder.embed_tokens.weight"] = shared
    save_file(tensors, copy / "model.safetensors", metadata={"format": "pt"})
    sequences = _pairs(checkpoint, PAIRS[:2])
    torch.testing.assert_close(_ours(worker(copy), sequences, "none"), _reference_logits(checkpoint, sequences),
                               atol=1e-5, rtol=0)


def test_mis_is_refused(checkpoint):
    sequences = _pairs(checkpoint, PAIRS[:1])
    seq = ScoreSequence("m", sequences[0] + [5, 2], 0, 2, PoolingParams(activation="none"), query_len=3, item_lens=[2, 2])
    with pytest.raises(ValueError, match="MIS sequences and cached prefixes need causal attention"):
        worker(checkpoint).forward([seq])
