"""Queries and documents tokenized for a ColBERT model, as pylate (and colbert-ai) tokenize them.

Style ``pylate`` (the checkpoint's settings, configs/late_interaction_config.py):
- a text is stripped, tokenized with its special tokens and cut to ``length - 1`` tokens (the
  special tokens kept), then the prefix token goes after the first token:
  ``[CLS] [Q] what is colbert [SEP]``;
- a query with expansion is padded to ``query_length`` with [MASK] (the tokenizer's mask token,
  else its end-of-sequence token): the padding's vectors take part in MaxSim, and, unless the
  checkpoint attends to them, every token attends to the real tokens only (``key_len``);
- a document's tokens in the skiplist (punctuation) are left out of MaxSim, not out of the encoder.

Style ``vllm``: each text plainly tokenized, every token scored (what vLLM computes for ColBERT).
"""

from __future__ import annotations

from typing import Optional

from multiscore.configs.late_interaction_config import LateInteractionConfig


class LateInteractionInputs:
    def __init__(self, tokenizer, config: Optional[LateInteractionConfig], style: str) -> None:
        self.tokenizer = tokenizer
        self.config = None if style == "vllm" else config  # None: plain tokenization
        self.skip_token_ids: tuple[int, ...] = ()
        if self.config is None:
            return
        self.query_prefix_id = self._prefix_id(self.config.query_prefix)
        self.document_prefix_id = self._prefix_id(self.config.document_prefix)
        self.expansion_id = tokenizer.mask_token_id if tokenizer.mask_token_id is not None else tokenizer.eos_token_id
        if self.config.do_query_expansion and self.expansion_id is None:
            raise ValueError("ColBERT query expansion pads with the tokenizer's mask (or end-of-sequence) token, "
                             "and this tokenizer has neither")
        # pylate's skiplist: each word as one token (a word outside the vocabulary maps to [UNK], as there).
        self.skip_token_ids = tuple(sorted({tokenizer.convert_tokens_to_ids(w) for w in self.config.skiplist_words}))

    def _prefix_id(self, prefix: str) -> Optional[int]:
        if not prefix:
            return None
        token_id = self.tokenizer.convert_tokens_to_ids(prefix)
        if token_id is None or (token_id == self.tokenizer.unk_token_id and prefix != self.tokenizer.unk_token):
            raise ValueError(f"the ColBERT prefix {prefix!r} is not a token of this tokenizer (pylate adds it when it "
                             "saves a checkpoint)")
        return token_id

    def queries(self, texts: list[str], keep: Optional[int] = None) -> tuple[list[list[int]], list[Optional[int]]]:
        """-> (ids, key_lens): per query its tokens, and the tokens every token may attend to (None: all).
        ``keep``: at most this many tokens (the request's truncation)."""
        if self.config is None:
            return self._plain(texts, keep), [None] * len(texts)
        cfg = self.config
        ids = self._cut(texts, cfg.query_length, self.query_prefix_id, keep)
        if not cfg.do_query_expansion:
            return ids, [None] * len(ids)
        key_lens = [None if cfg.attend_to_expansion_tokens else len(x) for x in ids]
        return [x + [self.expansion_id] * (cfg.query_length - len(x)) for x in ids], key_lens

    def documents(self, texts: list[str], max_content: Optional[int] = None, keep: Optional[int] = None) -> list[list[int]]:
        """``max_content``: at most this many tokens besides the special ones (rerank's max_tokens_per_doc)."""
        prefix_id = None if self.config is None else self.document_prefix_id
        if max_content is not None:
            cap = max_content + self.tokenizer.num_special_tokens_to_add(False) + (prefix_id is not None)
            keep = cap if keep is None else min(keep, cap)
        if self.config is None:
            return self._plain(texts, keep)
        return self._cut(texts, self.config.document_length, prefix_id, keep)

    def _plain(self, texts: list[str], keep: Optional[int]) -> list[list[int]]:
        kwargs = {} if keep is None else {"truncation": True, "max_length": keep}
        return self.tokenizer(texts, **kwargs)["input_ids"]

    def _cut(self, texts: list[str], length: int, prefix_id: Optional[int], keep: Optional[int]) -> list[list[int]]:
        """Stripped texts cut to ``length`` tokens with the prefix inserted after the first token."""
        if keep is not None:
            length = min(length, keep)
        room = length - (prefix_id is not None)
        ids = self.tokenizer([t.strip() for t in texts], truncation=True, max_length=room)["input_ids"]
        return ids if prefix_id is None else [x[:1] + [prefix_id] + x[1:] for x in ids]
