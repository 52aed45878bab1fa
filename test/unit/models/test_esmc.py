"""ESM C protein language models against transformers: amino-acid sequences of different lengths packed in one
batch — the classifier's logits on <cls>, the bare model's final states and mean-pooled embedding, the
per-residue tagger's logits."""

import pytest
import torch

from multiscore.configs.model_kind import ModelKind
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from test_encoder_models import assert_packed_equal_reference, load_ours, load_reference
from test_esm import _sequences
from worker_batches import worker


@pytest.mark.parametrize("head", ["seqcls", "embed"])
def test_packed_proteins_equal_transformers(tiny_model, head):
    path = tiny_model("esmc", head, num_labels=3)
    ours, ref = load_ours(path), load_reference(path, head)
    seqs = [(ids, [0] * len(ids)) for ids, _ in _sequences(path)]
    assert_packed_equal_reference(ours, ref, seqs, logits=head == "seqcls")


def test_the_bare_model_pools_by_mean(tiny_model):
    from transformers import AutoModel

    path = tiny_model("esmc", "embed")
    w = worker(path)
    assert w.model.kind is ModelKind.ENCODER_EMBEDDING
    hf = AutoModel.from_pretrained(str(path), dtype=torch.float32).eval()
    seqs = [ids for ids, _ in _sequences(path)]
    got = w.forward([ScoreSequence(f"e{i}", ids, 0, 1, PoolingParams(activation="default")) for i, ids in enumerate(seqs)])
    for g, ids in zip(got, seqs):
        with torch.no_grad():
            expected = torch.nn.functional.normalize(hf(input_ids=torch.tensor([ids])).last_hidden_state[0].mean(0), dim=-1)
        torch.testing.assert_close(g[0], expected, atol=1e-5, rtol=0)


def test_per_residue_tags_equal_transformers(tiny_model):
    from transformers import AutoModelForTokenClassification

    path = tiny_model("esmc", "tokcls", num_labels=3)
    w = worker(path)
    hf = AutoModelForTokenClassification.from_pretrained(str(path), dtype=torch.float32).eval()
    seqs = [ids for ids, _ in _sequences(path)]
    pooling = PoolingParams(activation="none", per_token=True, token_head="classify")
    got = w.forward([ScoreSequence(f"t{i}", ids, 0, len(ids), pooling) for i, ids in enumerate(seqs)])
    for g, ids in zip(got, seqs):
        with torch.no_grad():
            expected = hf(input_ids=torch.tensor([ids])).logits[0]
        torch.testing.assert_close(g, expected, atol=1e-5, rtol=0)
