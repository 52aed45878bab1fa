"""Vision-language encoders served as their text encoder on text: ModernVBERT (ModernBERT under ``model.text_model``)
and UltraVBert (Ultrabert), bare, classifier (its pooling read from the outer config) and token classifier, against
transformers' multimodal model on sentences and pairs packed in one batch."""

import pytest
import torch

from make_tiny_model import build_tokenizer
from test_encoder_models import assert_packed_equal_reference, encode, load_ours

TEXTS = ["the cat sat on the mat near the door", "a dog", "where is the station", "hello"]
PAIRS = ["on a mat", "runs fast", "near the park", "world"]
HEADS = {"seqcls": "ForSequenceClassification", "embed": "Model", "tokcls": "ForTokenClassification"}
VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=28,
              patch_size=14)
TEXT = {
    "ModernVBert": dict(model_type="modernbert", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                        num_attention_heads=4, local_attention=4, global_attn_every_n_layers=2),
    "UltraVBert": dict(model_type="ultrabert", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=16, sliding_window=2,
                       layer_types=["sliding_attention", "full_attention"], prediction_head_size=32),
}
SERVED_AS = {"ModernVBert": "ModernBert", "UltraVBert": "Ultrabert"}


def tiny_vision_encoder(path, family: str, head: str):
    import transformers

    torch.manual_seed(0)
    tokenizer = build_tokenizer("bert")
    vocab = (len(tokenizer) + 63) // 64 * 64
    text = dict(TEXT[family], vocab_size=vocab, pad_token_id=tokenizer.pad_token_id, max_position_embeddings=128)
    config = getattr(transformers, family + "Config")(
        text_config=text, vision_config=VISION, pixel_shuffle_factor=2, image_token_id=vocab - 1,
        classifier_pooling="mean", id2label={0: "a", 1: "b", 2: "c"}, label2id={"a": 0, "b": 1, "c": 2})
    model = getattr(transformers, family + HEADS[head])(config).eval()
    with torch.no_grad():  # random norms, so a wrong one shows
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.normal_(1, 0.3)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return model, tokenizer


@pytest.mark.parametrize("family", list(TEXT))
@pytest.mark.parametrize("head", list(HEADS))
def test_text_equals_transformers_multimodal_model(tmp_path, family, head):
    ref, tokenizer = tiny_vision_encoder(tmp_path / "vlm", family, head)
    ours = load_ours(tmp_path / "vlm")
    assert type(ours).__name__ == SERVED_AS[family] + HEADS[head]
    assert "vision" not in " ".join(name for name, _ in ours.named_parameters())
    seqs = encode(tokenizer, TEXTS, None) + encode(tokenizer, TEXTS, PAIRS)
    # the classifier mean-pooled, as the outer config says
    assert_packed_equal_reference(ours, ref, seqs, logits=head == "seqcls", atol=1e-5, token_logits=head == "tokcls",
                                  reference_hidden=(lambda out: out.last_hidden_state[0]) if head == "embed" else None)
