"""ESM protein language models (ESM-2 / ESM-1b; ESM C: test_esmc.py, and the bare model and tagger here) against
transformers: amino-acid sequences of different lengths packed in
one batch — the classifier's logits on <cls>, the per-residue tagger's, the bare model's final states
and mean-pooled embedding —; token dropout's scaling with and without <mask> tokens in a sequence; ESM-1b's
learned positions (from pad_token_id + 1) and embedding LayerNorm."""

import pytest
import torch

from multiscore.configs.model_kind import ModelKind
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from test_encoder_models import assert_packed_equal_reference, load_ours, load_reference
from worker_batches import worker

PROTEINS = ["MKTAYIAKQRQISFVKSHFSRQ", "MLSDEDFKAVFGMTRSAFANLPLWKQQNLKKEKGLF", "GSHMA", "MKV<mask>AYIAK<mask>Q"]
ESM1B = dict(position_embedding_type="absolute", emb_layer_norm_before=True, token_dropout=False)


def _sequences(path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    return [(tokenizer(p)["input_ids"], None) for p in PROTEINS]


@pytest.mark.parametrize("variant", [{}, ESM1B], ids=["esm2", "esm1b"])
@pytest.mark.parametrize("head", ["seqcls", "embed"])
def test_packed_proteins_equal_transformers(tiny_model, head, variant):
    path = tiny_model("esm", head, num_labels=3, **variant)
    ours, ref = load_ours(path), load_reference(path, head)
    seqs = [(ids, [0] * len(ids)) for ids, _ in _sequences(path)]
    assert any(32 in ids for ids, _ in seqs)  # a sequence with masks: token dropout's scaling moves
    assert_packed_equal_reference(ours, ref, seqs, logits=head == "seqcls")


@pytest.mark.parametrize("arch", ["esm", "esmc"])  # ESM-2, ESM C
def test_the_bare_model_pools_by_mean(tiny_model, arch):
    from transformers import AutoModel

    path = tiny_model(arch, "embed")
    w = worker(path)
    assert w.model.kind is ModelKind.ENCODER_EMBEDDING
    hf = AutoModel.from_pretrained(str(path), dtype=torch.float32).eval()
    seqs = [ids for ids, _ in _sequences(path)]
    got = w.forward([ScoreSequence(f"e{i}", ids, 0, 1, PoolingParams(activation="default")) for i, ids in enumerate(seqs)])
    for g, ids in zip(got, seqs):
        with torch.no_grad():
            expected = torch.nn.functional.normalize(hf(input_ids=torch.tensor([ids])).last_hidden_state[0].mean(0), dim=-1)
        torch.testing.assert_close(g[0], expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("arch", ["esm", "esmc"])
def test_per_residue_tags_equal_transformers(tiny_model, arch):
    from transformers import AutoModelForTokenClassification

    path = tiny_model(arch, "tokcls", num_labels=3)
    w = worker(path)
    hf = AutoModelForTokenClassification.from_pretrained(str(path), dtype=torch.float32).eval()
    seqs = [ids for ids, _ in _sequences(path)]
    pooling = PoolingParams(activation="none", per_token=True, token_head="classify")
    got = w.forward([ScoreSequence(f"t{i}", ids, 0, len(ids), pooling) for i, ids in enumerate(seqs)])
    for g, ids in zip(got, seqs):
        with torch.no_grad():
            expected = hf(input_ids=torch.tensor([ids])).logits[0]
        torch.testing.assert_close(g, expected, atol=1e-4, rtol=0)
