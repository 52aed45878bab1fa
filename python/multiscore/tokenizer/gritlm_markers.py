"""GritLM's embedding prompts and the instruction its mean pooling leaves out (vLLM's rule).

GritLM embeds ``<s><|user|>\\nINSTRUCTION\\n<|embed|>\\nTEXT``, or ``<s><|embed|>\\nTEXT`` without an
instruction, and averages TEXT's tokens only. The markers are found by their token ids, as Mistral's
SentencePiece vocabulary (GritLM's) spells them: ``<|embed|>\\n`` right after ``<s>`` is
``▁< | embed | > <0x0A>``, and after the instruction's newline ``<0x0A> < | embed | > <0x0A>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

SPIECE = "\u2581"
_PIECES = ("<s>", SPIECE + "<", "<", "|", "embed", "user", ">", "<0x0A>")


@dataclass(frozen=True)
class GritLMMarkers:
    bos: int
    user: tuple[int, ...]  # <|user|>\n right after <s>
    embed: tuple[int, ...]  # <|embed|>\n right after <s>
    embed_after_newline: tuple[int, ...]  # \n<|embed|>\n: the instruction's end

    @classmethod
    def of(cls, tokenizer) -> "GritLMMarkers":
        """The markers' ids in ``tokenizer``; ValueError when its vocabulary lacks a piece of them."""
        vocab = tokenizer.get_vocab()
        missing = [p for p in _PIECES if p not in vocab]
        if missing:
            raise ValueError(f"GritLM finds its prompt markers (<|user|>, <|embed|>) by the pieces of Mistral's tokenizer, "
                             f"and this tokenizer has no {', '.join(repr(p) for p in missing)}")
        ids = {p: vocab[p] for p in _PIECES}
        start, tail = ids[SPIECE + "<"], (ids["|"], ids[">"], ids["<0x0A>"])
        return cls(bos=ids["<s>"], user=(start, ids["|"], ids["user"], *tail),
                   embed=(start, ids["|"], ids["embed"], *tail),
                   embed_after_newline=(ids["<0x0A>"], ids["<"], ids["|"], ids["embed"], *tail))

    def instruction_length(self, ids: Sequence[int]) -> int:
        """How many leading tokens of ``ids`` the mean leaves out: through the ``<|embed|>\\n`` marker when
        there is one; else the ``<s>`` alone; none when the text does not start with ``<s>``."""
        if not ids or ids[0] != self.bos:
            return 0
        marker = self.embed_after_newline if _at(ids, self.user, 1) else self.embed
        for start in range(1, len(ids) - len(marker) + 1):
            if _at(ids, marker, start):
                return start + len(marker)
        return 1


def _at(ids: Sequence[int], pattern: tuple[int, ...], start: int) -> bool:
    return tuple(ids[start : start + len(pattern)]) == pattern
