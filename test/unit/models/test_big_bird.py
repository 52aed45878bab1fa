"""BigBird encoders against transformers, up to where transformers' block-sparse attention starts (it runs BERT's
full attention below (5 + 2·random blocks)·block size tokens: 28 here): packed sentences and pairs, the classifier
(GELU head on the first token), the bare model and the token classifier's encoder, scaled embeddings; the context
stops there."""

import pytest
import torch

from make_tiny_model import build_tokenizer
from multiscore.configs.model_config import ModelConfig
from multiscore.server_args import ServerArgs
from test_encoder_models import assert_packed_equal_reference, encode, load_ours

TEXTS = ["the cat sat on the mat", "a dog", "where is the station", "hello"]
PAIRS = ["on a mat", "runs fast", "near the park", "world"]
HEADS = {"seqcls": "BigBirdForSequenceClassification", "embed": "BigBirdModel", "tokcls": "BigBirdForTokenClassification"}


def tiny_big_bird(path, head: str, **config):
    import transformers

    torch.manual_seed(0)
    tokenizer = build_tokenizer("bert")
    cfg = transformers.BigBirdConfig(
        vocab_size=(len(tokenizer) + 63) // 64 * 64, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=128, max_position_embeddings=256, block_size=4, num_random_blocks=1,
        attention_type="block_sparse", hidden_act="gelu_new", num_labels=3, initializer_range=0.1,
        pad_token_id=tokenizer.pad_token_id, **config)
    model = getattr(transformers, HEADS[head])(cfg).eval()
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return model, tokenizer


@pytest.mark.parametrize("head, config", [("seqcls", {}), ("embed", {}), ("tokcls", {}),
                                          ("seqcls", {"rescale_embeddings": True})])
def test_packed_sentences_and_pairs_equal_transformers(tmp_path, head, config):
    ref, tokenizer = tiny_big_bird(tmp_path / "bb", head, **config)
    seqs = encode(tokenizer, TEXTS, None) + encode(tokenizer, TEXTS, PAIRS)
    assert max(len(ids) for ids, _ in seqs) <= 28
    assert_packed_equal_reference(load_ours(tmp_path / "bb"), ref, seqs, logits=head == "seqcls", atol=1e-5,
                                  with_types=True)


def test_the_context_stops_where_block_sparse_attention_starts(tmp_path):
    tiny_big_bird(tmp_path / "bb", "seqcls")
    assert ModelConfig.from_server_args(ServerArgs(model_path=str(tmp_path / "bb"), device="cpu")).context_length == 28
    with pytest.raises(ValueError, match="block-sparse attention's full span of 28 tokens"):
        ModelConfig.from_server_args(ServerArgs(model_path=str(tmp_path / "bb"), device="cpu", context_length=64))
