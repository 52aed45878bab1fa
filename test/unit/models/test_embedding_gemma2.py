"""EmbeddingGemma 2 on text against transformers: Gemma 4's layers as an encoder (sliding layers with
a 3-token radius against 9+ token texts, global layers with wider heads and one kv head, per-layer
embeddings from the projection alone, ``layer_scalar``), the per-token ``embedding_projection``,
mean pooling and L2 normalisation; the bare text model and the multimodal checkpoint on text."""

import pytest
import torch

from make_tiny_model import build_tokenizer
from multiscore.configs.model_kind import ModelKind
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from worker_batches import worker

TEXTS = [[2, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 1], [2, 30, 31, 1], [2, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 1]]


def _text_config(vocab: int) -> dict:
    return dict(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=4, num_attention_heads=4,
                num_key_value_heads=2, head_dim=16, global_head_dim=32, num_global_key_value_heads=1,
                layer_types=["sliding_attention", "full_attention"] * 2, sliding_window=3,
                hidden_size_per_layer_input=8, embedding_dim=24, initializer_range=0.1, max_position_embeddings=4096,
                rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 1e4},
                                 "full_attention": {"rope_type": "default", "rope_theta": 1e6}})


def _randomise(model) -> None:
    """Norm weights and layer scalars start at 1 (and would hide a missing or swapped one)."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if name.endswith("norm.weight"):
                p.add_(torch.randn(p.shape, generator=gen) * 0.1)
        for name, b in model.named_buffers():
            if name.endswith("layer_scalar"):
                b.add_(torch.randn(b.shape, generator=gen) * 0.1)


def _reference(model, texts) -> torch.Tensor:
    with torch.no_grad():
        means = torch.stack([model(input_ids=torch.tensor([ids])).last_hidden_state[0].mean(0) for ids in texts])
    return torch.nn.functional.normalize(means, dim=-1)


def _ours(path) -> torch.Tensor:
    w = worker(path)
    assert w.model.kind is ModelKind.ENCODER_EMBEDDING
    seqs = [ScoreSequence(str(i), ids, 0, 1, PoolingParams(activation="default")) for i, ids in enumerate(TEXTS)]
    return torch.cat(w.forward(seqs))


@pytest.mark.parametrize("multimodal", [False, True], ids=["text", "multimodal"])
def test_embeddings_equal_transformers_mean_pooled(tmp_path, multimodal):
    import transformers

    tokenizer = build_tokenizer("gemma3")
    vocab = (len(tokenizer) + 63) // 64 * 64
    text = transformers.EmbeddingGemma2TextConfig(**_text_config(vocab))
    if multimodal:
        config = transformers.EmbeddingGemma2Config(text_config=text.to_dict())
        cls = transformers.EmbeddingGemma2Model
    else:
        config, cls = text, transformers.EmbeddingGemma2TextModel
    torch.manual_seed(0)
    model = cls(config).eval()
    _randomise(model)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    got = _ours(tmp_path)
    assert got.shape == (len(TEXTS), 24)  # embedding_dim, not the hidden size
    torch.testing.assert_close(got, _reference(model, TEXTS), atol=1e-5, rtol=0)
