"""BART's kin against transformers, pairs of different lengths packed in one batch: mBART (pre-norm layers, final
norms), PLBart and MVP classifiers; mBART's and PLBart's inputs end with a language id after their last </s> (the
decoder starts from it, the class scores are read at the last </s>), and so does one BART input. MVP's prompts
refused."""

import pytest
import torch

from make_tiny_model import build_tokenizer
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from worker_batches import worker

PAIRS = [("the cat sat on the mat", "this text is about animals"), ("hello", "this text is about greetings"),
         ("one two three four five six seven eight", "this text is about numbers")]


def tiny(path, family: str, **config):
    import transformers

    torch.manual_seed(0)
    tokenizer = build_tokenizer("bart")
    cfg = getattr(transformers, family + "Config")(
        vocab_size=(len(tokenizer) + 63) // 64 * 64, d_model=64, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128,
        max_position_embeddings=128, activation_function="gelu", init_std=0.1, scale_embedding=True, num_labels=3,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id, **config)
    model = getattr(transformers, family + "ForSequenceClassification")(cfg).eval()
    with torch.no_grad():  # LayerNorms and biases away from their init, so a misplaced one shows
        for name, p in model.named_parameters():
            if "norm" in name or name.endswith("bias"):
                p.add_(torch.randn(p.shape) * 0.2)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return model, tokenizer


@pytest.mark.parametrize("family, language_id", [("MBart", True), ("PLBart", True), ("Mvp", False), ("Bart", True)])
def test_pairs_equal_transformers_each_alone(tmp_path, family, language_id):
    ref, tokenizer = tiny(tmp_path, family)
    sequences = [tokenizer(a, b)["input_ids"] + ([60] if language_id else []) for a, b in PAIRS]
    w = worker(tmp_path)
    assert type(w.model).__name__ == family + "ForSequenceClassification"
    out = w.forward([ScoreSequence(f"p{i}", ids, i, 1, PoolingParams(activation="none")) for i, ids in enumerate(sequences)])
    with torch.no_grad():
        expected = torch.stack([ref(input_ids=torch.tensor([ids])).logits[0] for ids in sequences])
    torch.testing.assert_close(torch.cat(out), expected, atol=1e-5, rtol=0)


def test_mvp_prompts_are_refused(tmp_path):
    tiny(tmp_path, "Mvp", use_prompt=True, prompt_length=4, prompt_mid_dim=32)
    with pytest.raises(ValueError, match="use_prompt"):
        worker(tmp_path)
