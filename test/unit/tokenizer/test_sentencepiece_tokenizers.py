"""Tokenizers shipped as a SentencePiece model alone, with no tokenizer.json (microsoft/deberta-v3-*,
mdeberta-v3 and fine-tunes saved with the slow tokenizer: ``spm.model`` and a ``tokenizer_config.json``)
load (transformers reads them through the ``sentencepiece`` extra, a dependency), and tokenize texts and
pairs as SentencePiece itself segments them, between DeBERTa's [CLS] / [SEP]."""

import json

import pytest

from multiscore.configs.model_config import load_tokenizer

TEXTS = ["the quick brown fox", "what is the capital of france ?", "paris", "lazy dogs jump over foxes 42"]
CONFIG = {"tokenizer_class": "DebertaV2Tokenizer", "do_lower_case": False, "vocab_type": "spm", "bos_token": "[CLS]",
          "eos_token": "[SEP]", "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
          "mask_token": "[MASK]", "split_by_punct": False}


@pytest.fixture(scope="module")
def spm_only(tmp_path_factory):
    """(checkpoint folder holding spm.model and tokenizer_config.json alone, SentencePiece's processor)."""
    import sentencepiece as spm

    path = tmp_path_factory.mktemp("spm-only")
    corpus = path / "corpus.txt"
    corpus.write_text("\n".join(f"the quick brown fox jumps over the lazy dog {i}" for i in range(100))
                      + "\nwhat is the capital of france ? paris is .\n" * 20)
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(path / "spm"), vocab_size=48, model_type="unigram", pad_id=0, bos_id=1,
        eos_id=2, unk_id=3, pad_piece="[PAD]", bos_piece="[CLS]", eos_piece="[SEP]", unk_piece="[UNK]",
        user_defined_symbols=["[MASK]"], minloglevel=2)
    corpus.unlink()
    (path / "spm.vocab").unlink()
    (path / "tokenizer_config.json").write_text(json.dumps(CONFIG))
    assert sorted(p.name for p in path.iterdir()) == ["spm.model", "tokenizer_config.json"]
    return path, spm.SentencePieceProcessor(model_file=str(path / "spm.model"))


def test_texts_tokenize_as_sentencepiece_segments_them(spm_only):
    path, sp = spm_only
    tok = load_tokenizer(str(path))
    for text in TEXTS:
        assert tok(text)["input_ids"] == [1] + sp.encode(text) + [2]


def test_pairs_tokenize_as_sentencepiece_segments_them(spm_only):
    path, sp = spm_only
    tok = load_tokenizer(str(path))
    for query, doc in zip(TEXTS, reversed(TEXTS)):
        assert tok(query, doc)["input_ids"] == [1] + sp.encode(query) + [2] + sp.encode(doc) + [2]
