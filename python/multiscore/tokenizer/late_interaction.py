"""Queries and documents tokenized for a ColBERT model, as pylate (and colbert-ai) tokenize them.

Style ``pylate`` (the checkpoint's settings, configs/late_interaction_config.py):
- a text is stripped, tokenized with its special tokens and cut to ``length - 1`` tokens (the
  special tokens kept), then the prefix token goes after the first token:
  ``[CLS] [Q] what is colbert [SEP]``;
- a query with expansion is padded to ``query_length`` with [MASK] (the tokenizer's mask token,
  else its end-of-sequence token): the padding's vectors take part in MaxSim, and, unless the
  checkpoint attends to them, every token attends to the real tokens only (``key_len``);
- a document's tokens in the skiplist (punctuation) are left out of MaxSim, not out of the encoder.

sentence-transformers 6 (MultiVectorEncoder) checkpoints the same way, but texts are not stripped,
a ``min`` expansion pads a shorter query to ``query_length`` and keeps a longer one (up to
``query_max_length``), and a skiplist word outside the vocabulary is dropped instead of skipping
[UNK]. A missing length is the model's input length (``context_length``).

Style ``vllm``: each text plainly tokenized, every token scored (what vLLM computes for ColBERT).
"""

from __future__ import annotations

from typing import Optional

from multiscore.configs.late_interaction_config import LateInteractionConfig


class LateInteractionInputs:
    def __init__(self, tokenizer, config: Optional[LateInteractionConfig], style: str, context_length: int) -> None:
        self.tokenizer = tokenizer
        self.config = None if style == "vllm" else config  # None: plain tokenization
        self.skip_token_ids: tuple[int, ...] = ()
        if self.config is None:
            return
        self.query_length = min(self.config.query_length or context_length, context_length)
        self.query_max_length = min(self.config.query_max_length or context_length, context_length)
        self.document_length = min(self.config.document_length or context_length, context_length)
        self.query_prefix_id = self._prefix_id(self.config.query_prefix)
        self.document_prefix_id = self._prefix_id(self.config.document_prefix)
        self.expansion_id = tokenizer.mask_token_id if tokenizer.mask_token_id is not None else tokenizer.eos_token_id
        if self.config.do_query_expansion and self.expansion_id is None:
            raise ValueError("ColBERT query expansion pads with the tokenizer's mask (or end-of-sequence) token, "
                             "and this tokenizer has neither")
        # The skiplist: each word as one token. pylate maps a word outside the vocabulary to [UNK] (and
        # so skips [UNK] rows); sentence-transformers 6 drops such a word.
        ids = {w: tokenizer.convert_tokens_to_ids(w) for w in self.config.skiplist_words}
        if not self.config.skiplist_unk:
            ids = {w: i for w, i in ids.items() if i != tokenizer.unk_token_id or w == tokenizer.unk_token}
        self.skip_token_ids = tuple(sorted(set(ids.values())))

    def _prefix_id(self, prefix: str) -> Optional[int]:
        if not prefix:
            return None
        token_id = self.tokenizer.convert_tokens_to_ids(prefix)
        if token_id is None or (token_id == self.tokenizer.unk_token_id and prefix != self.tokenizer.unk_token):
            raise ValueError(f"the ColBERT prefix {prefix!r} is not one token of this tokenizer (pylate adds it when it "
                             "saves a checkpoint)")
        return token_id

    def queries(self, texts: list[str], keep: Optional[int] = None) -> tuple[list[list[int]], list[Optional[int]]]:
        """-> (ids, key_lens): per query its tokens, and the tokens every token may attend to (None: all).
        ``keep``: at most this many tokens (the request's truncation)."""
        if self.config is None:
            return self._plain(texts, keep), [None] * len(texts)
        cfg = self.config
        if not cfg.do_query_expansion:
            return self._cut(texts, self.query_length, self.query_prefix_id, keep), [None] * len(texts)
        cut_at = self.query_max_length if cfg.expansion_strategy == "min" else self.query_length
        ids = self._cut(texts, cut_at, self.query_prefix_id, keep)
        key_lens = [None if cfg.attend_to_expansion_tokens or len(x) >= self.query_length else len(x) for x in ids]
        return [x + [self.expansion_id] * max(0, self.query_length - len(x)) for x in ids], key_lens

    def documents(self, texts: list[str], max_content: Optional[int] = None, keep: Optional[int] = None) -> list[list[int]]:
        """``max_content``: at most this many tokens besides the special ones (rerank's max_tokens_per_doc)."""
        prefix_id = None if self.config is None else self.document_prefix_id
        if max_content is not None:
            cap = max_content + self.tokenizer.num_special_tokens_to_add(False) + (prefix_id is not None)
            keep = cap if keep is None else min(keep, cap)
        if self.config is None:
            return self._plain(texts, keep)
        return self._cut(texts, self.document_length, prefix_id, keep)

    def _plain(self, texts: list[str], keep: Optional[int]) -> list[list[int]]:
        kwargs = {} if keep is None else {"truncation": True, "max_length": keep}
        return self.tokenizer(texts, **kwargs)["input_ids"]

    def _cut(self, texts: list[str], length: int, prefix_id: Optional[int], keep: Optional[int]) -> list[list[int]]:
        """Stripped texts cut to ``length`` tokens with the prefix inserted after the first token."""
        if keep is not None:
            length = min(length, keep)
        room = length - (prefix_id is not None)
        if self.config.strip_texts:
            texts = [t.strip() for t in texts]
        ids = self.tokenizer(texts, truncation=True, max_length=room)["input_ids"]
        return ids if prefix_id is None else [x[:1] + [prefix_id] + x[1:] for x in ids]
