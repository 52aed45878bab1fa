"""The reference of the SGLang test ports: ``transformers`` on the same tiny checkpoint, each item
scored alone, in fp32 (built on test/hf_reference.py), plus the label-id helpers the upstream tests
use (``_get_token_ids``).

Tokenization is DESIGN.md §3's: the text query with the tokenizer's special tokens, each item
without, concatenated at the token level; with ``item_first`` the query's leading special tokens
(Llama's BOS) stay at the start of the whole sequence (``<bos> item query``), as SGLang and
transformers put them. (Upstream builds ``f"{query}{item}"`` and tokenizes the text; with the tiny
whitespace tokenizers that is the same sequence for every upstream case whose query and item are
separated by a space or an empty side.)
"""

from __future__ import annotations

import torch

import hf_reference as hf

# fp32 parity: MIS vs single item, and multiscore vs transformers (DESIGN.md §4).
ATOL = 1e-4


def tokenizer(path):
    return hf.load_tokenizer(str(path))


def first_token_id(path, text: str) -> int:
    """Upstream ``_get_token_ids``: the first id of ``text`` encoded without special tokens."""
    return tokenizer(path)(text, add_special_tokens=False)["input_ids"][0]


def token_ids(path, texts) -> list[int]:
    return [first_token_id(path, t) for t in texts]


def vocab_size(path) -> int:
    """The model's vocabulary (its embedding rows), at least the tokenizer's."""
    return max(hf.load_model(str(path)).config.vocab_size, len(tokenizer(path)))


def hidden_size(path) -> int:
    return hf.load_model(str(path)).config.hidden_size


def sequences(path, query, items, item_first: bool = False) -> list[list[int]]:
    """The token sequence each item is scored as (DESIGN.md §3): text query with the tokenizer's
    special tokens, items without; with ``item_first`` the query's leading special tokens (a BOS)
    move to the front: ``<bos> item query``. Token inputs are taken as given."""
    items = [items] if isinstance(items, str) else list(items)
    if isinstance(query, list):
        return [list(it) + list(query) if item_first else list(query) + list(it) for it in items]
    query_ids, items_ids = hf.hf_tokenize(path, query, items)
    if not item_first:
        return [query_ids + it for it in items_ids]
    bare = tokenizer(path)(query, add_special_tokens=False)["input_ids"]
    lead = len(query_ids) - len(bare)
    assert query_ids[lead:] == bare, "the tokenizer adds special tokens after the text: not a BOS tokenizer"
    return [query_ids[:lead] + it + query_ids[lead:] for it in items_ids]


@torch.no_grad()
def reference(path, seqs, label_token_ids=None, apply_softmax=False, overrides=None) -> list[list[float]]:
    """``transformers`` on each sequence alone: CausalLM -> label probabilities at the last token
    (full vocabulary, or softmax over the labels), SeqCls -> the head's logits (softmax over classes).
    ``overrides[i]``: {position: vector} replacing input embeddings of sequence i."""
    model = hf.load_model(str(path))
    causal = hf.is_causal(str(path))
    rows = []
    for i, ids in enumerate(seqs):
        input_ids = torch.tensor([ids], dtype=torch.long)
        embeds = model.get_input_embeddings()(input_ids).clone()  # [1, T, H]
        for pos, vec in ((overrides[i] if overrides else None) or {}).items():
            embeds[0, pos] = torch.as_tensor(vec, dtype=embeds.dtype)
        # inputs_embeds (no input_ids): the classifier reads the last position, as multiscore does.
        out = model(inputs_embeds=embeds, attention_mask=torch.ones_like(input_ids))
        if causal:
            logits = out.logits[0, -1].float()
            labels = torch.tensor(label_token_ids, dtype=torch.long)
            row = torch.softmax(logits[labels], -1) if apply_softmax else torch.log_softmax(logits, -1)[labels].exp()
        else:
            row = out.logits[0].float()
            row = torch.softmax(row, -1) if apply_softmax else row
        rows.append(row.tolist())
    return rows


def reference_scores(path, query, items, label_token_ids=None, apply_softmax=False, item_first=False):
    """Upstream ``compute_hf_scores`` / ``_hf_scores``: each (query, item) alone through transformers."""
    return reference(path, sequences(path, query, items, item_first), label_token_ids, apply_softmax)


def assert_close(actual, expected, atol: float = ATOL) -> None:
    hf.assert_scores_close(actual, expected, atol=atol)
