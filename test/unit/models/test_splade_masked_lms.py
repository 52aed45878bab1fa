"""RoBERTa, XLM-R and GTE masked LMs served as SPLADE, through the worker, against
sentence-transformers' ``SparseEncoder`` on the same tiny checkpoint (Transformer fill-mask +
SpladePooling); BERT and DistilBERT: test/e2e/test_splade.py."""

import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from multiscore.configs.model_kind import ModelKind
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from remote_code_checkpoints import as_gte_original
from worker_batches import worker

TEXTS = ["the dog sat on the mat", "what is the capital of california", "yes"]


def splade_checkpoint(src, dst, strategy: str = "max"):
    from sentence_transformers import SparseEncoder
    from sentence_transformers.base.modules.transformer import Transformer
    from sentence_transformers.sparse_encoder.modules import SpladePooling

    shutil.copytree(src, dst)
    SparseEncoder(modules=[Transformer(str(dst), transformer_task="fill-mask"), SpladePooling(strategy)]).save(str(dst))
    return dst


def ours(path) -> np.ndarray:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    w = worker(path)
    assert w.model.kind is ModelKind.ENCODER_SPARSE_EMBEDDING
    seqs = [ScoreSequence(str(i), tok(t)["input_ids"], 0, 1, PoolingParams(activation="default"))
            for i, t in enumerate(TEXTS)]
    return torch.cat(w.forward(seqs)).numpy()


def reference(path) -> np.ndarray:
    from sentence_transformers import SparseEncoder

    return SparseEncoder(str(path), device="cpu").encode(TEXTS).to_dense().numpy()  # [N, V]


@pytest.mark.parametrize("arch, strategy", [("roberta", "max"), ("xlm_roberta", "sum"), ("gte", "max")])
def test_sparse_embeddings_equal_sentence_transformers(tiny_model, tmp_path, arch, strategy):
    path = splade_checkpoint(tiny_model(arch, "mlm"), tmp_path / arch, strategy)
    got, expected = ours(path), reference(path)
    assert got.shape == expected.shape and (got == 0).any()
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-5)


def test_gte_original_layout_and_untied_roberta_head(tiny_model, tmp_path):
    """GTE as the remote code publishes it (model_type new, NewForMaskedLM, ``new.``, ``lm_head.norm``),
    and a RoBERTa whose vocabulary projection is its own ``lm_head.decoder``."""
    path = splade_checkpoint(tiny_model("gte", "mlm"), tmp_path / "gte", "max")
    assert "lm_head.norm.weight" in load_file(str(path / "model.safetensors"))
    original = as_gte_original(path, tmp_path / "gte-original", "NewForMaskedLM")
    np.testing.assert_allclose(ours(original), reference(path), atol=1e-4, rtol=1e-5)

    untied = splade_checkpoint(tiny_model("roberta", "mlm", tie_word_embeddings=False), tmp_path / "untied", "max")
    assert "lm_head.decoder.weight" in load_file(str(untied / "model.safetensors"))
    np.testing.assert_allclose(ours(untied), reference(untied), atol=1e-4, rtol=1e-5)
