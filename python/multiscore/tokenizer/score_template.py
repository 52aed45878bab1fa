"""Score templates: Jinja that formats one (query, document) pair into the prompt a reranker expects.

A template sees ``messages = [{"role": "query", "content": q}, {"role": "document", "content": d}]``,
the request's ``instruction`` and ``chat_template_kwargs`` (undefined unless given) and the
tokenizer's special tokens (``bos_token`` ...): vLLM's variables. It is rendered by the tokenizer's own
``apply_chat_template``, as vLLM renders score templates, so a template gives the same text here
as there (blocks trimmed, one trailing newline dropped).
"""

from __future__ import annotations

import os
from typing import Optional

import jinja2

# The prompt format of Qwen3-Reranker (its model card): the model answers "yes" or "no". Rendering
# drops the source's last newline, so the source ends with one more than the prompt's "\n\n".
QWEN3_RERANKER = (
    "<|im_start|>system\n"
    'Judge whether the Document meets the requirements based on the Query and the Instruct provided. '
    'Note that the answer can only be "yes" or "no".<|im_end|>\n'
    "<|im_start|>user\n"
    "<Instruct>: {{ instruction or 'Given a web search query, retrieve relevant passages that answer the query' }}\n"
    "<Query>: {{ (messages | selectattr('role', 'equalto', 'query') | first).content }}\n"
    "<Document>: {{ (messages | selectattr('role', 'equalto', 'document') | first).content }}<|im_end|>\n"
    "<|im_start|>assistant\n<think>\n\n</think>\n\n\n"
)
BUILTIN_TEMPLATES = {"qwen3_reranker": QWEN3_RERANKER}

# Stand in for the query and the document when checking a template; no real text contains them.
_DOCUMENT_MARK = "\x00multiscore-document\x00"
_QUERY_MARK = "\x00multiscore-query\x00"


class ScoreTemplate:
    def __init__(self, source: str, tokenizer, name: str = "<template>") -> None:
        self.source = source
        self.tokenizer = tokenizer
        self.name = name
        text = self.render(_QUERY_MARK, _DOCUMENT_MARK)
        if _QUERY_MARK not in text:
            raise ValueError(f"score template {name!r} never uses the query (messages[role == 'query'])")
        if _DOCUMENT_MARK not in text:
            raise ValueError(f"score template {name!r} never uses the document (messages[role == 'document'])")

    @classmethod
    def load(cls, name_or_path: str, tokenizer) -> "ScoreTemplate":
        """A built-in name (``qwen3_reranker``) or a Jinja file."""
        if name_or_path in BUILTIN_TEMPLATES:
            return cls(BUILTIN_TEMPLATES[name_or_path], tokenizer, name_or_path)
        if not os.path.isfile(name_or_path):
            raise ValueError(
                f"--score-template {name_or_path!r} is neither a file nor a built-in template "
                f"({', '.join(BUILTIN_TEMPLATES)})"
            )
        with open(name_or_path, encoding="utf-8") as f:
            return cls(f.read(), tokenizer, name_or_path)

    def render(self, query: str, document: str, variables: Optional[dict] = None) -> str:
        """``variables``: more template variables (vLLM's ``chat_template_kwargs``, ``instruction``)."""
        messages = [{"role": "query", "content": query}, {"role": "document", "content": document}]
        try:
            return self.tokenizer.apply_chat_template(
                messages, chat_template=self.source, tokenize=False, **(variables or {})
            )
        except jinja2.TemplateSyntaxError as e:
            raise ValueError(f"score template {self.name!r} is not valid Jinja: {e}") from None
        except Exception as e:  # a template can raise anything (undefined names, arithmetic ...)
            raise ValueError(f"score template {self.name!r} failed to render: {type(e).__name__}: {e}") from None
