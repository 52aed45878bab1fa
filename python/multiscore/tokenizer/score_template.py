"""Score templates: Jinja that formats one (query, document) pair into the prompt a reranker expects.

A template sees ``messages = [{"role": "query", "content": q}, {"role": "document", "content": d}]``
and ``instruction`` (may be undefined), the same variables as vLLM's score templates. To score a
whole request in one MIS pass, the rendered prompt is split around the document:
``prompt(q, d) = head(q) + d + tail(q)``; ``head`` becomes the shared query and ``d + tail`` each item.
"""

from __future__ import annotations

import os
from typing import Optional

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

# The prompt format of Qwen3-Reranker (its model card): the model answers "yes" or "no".
QWEN3_RERANKER = (
    "<|im_start|>system\n"
    'Judge whether the Document meets the requirements based on the Query and the Instruct provided. '
    'Note that the answer can only be "yes" or "no".<|im_end|>\n'
    "<|im_start|>user\n"
    "<Instruct>: {{ instruction or 'Given a web search query, retrieve relevant passages that answer the query' }}\n"
    "<Query>: {{ (messages | selectattr('role', 'equalto', 'query') | first).content }}\n"
    "<Document>: {{ (messages | selectattr('role', 'equalto', 'document') | first).content }}<|im_end|>\n"
    "<|im_start|>assistant\n<think>\n\n</think>\n\n"
)
BUILTIN_TEMPLATES = {"qwen3_reranker": QWEN3_RERANKER}

# Stand in for the document (and the query, when checking a template); no real text contains them.
_DOCUMENT_MARK = "\x00multiscore-document\x00"
_QUERY_MARK = "\x00multiscore-query\x00"


class ScoreTemplate:
    def __init__(self, source: str, name: str = "<template>") -> None:
        self.name = name
        env = ImmutableSandboxedEnvironment(undefined=jinja2.Undefined, keep_trailing_newline=True)
        try:
            self._template = env.from_string(source)
            head, tail = self.split(_QUERY_MARK)
        except jinja2.TemplateError as e:
            raise ValueError(f"score template {name!r} is not valid Jinja: {e}") from None
        if _QUERY_MARK not in head + tail:
            raise ValueError(f"score template {name!r} never uses the query (messages[role == 'query'])")

    @classmethod
    def load(cls, name_or_path: str) -> "ScoreTemplate":
        """A built-in name (``qwen3_reranker``) or a Jinja file."""
        if name_or_path in BUILTIN_TEMPLATES:
            return cls(BUILTIN_TEMPLATES[name_or_path], name_or_path)
        if not os.path.isfile(name_or_path):
            raise ValueError(
                f"--score-template {name_or_path!r} is neither a file nor a built-in template "
                f"({', '.join(BUILTIN_TEMPLATES)})"
            )
        with open(name_or_path, encoding="utf-8") as f:
            return cls(f.read(), name_or_path)

    def render(self, query: str, document: str, instruction: Optional[str] = None) -> str:
        messages = [{"role": "query", "content": query}, {"role": "document", "content": document}]
        variables = {"messages": messages}
        if instruction is not None:
            variables["instruction"] = instruction
        try:
            return self._template.render(**variables)
        except Exception as e:  # a template can raise anything (undefined names, arithmetic ...)
            raise ValueError(f"score template {self.name!r} failed to render: {type(e).__name__}: {e}") from None

    def split(self, query: str, instruction: Optional[str] = None) -> tuple[str, str]:
        """-> (head, tail) with ``render(query, d) == head + d + tail`` for every document ``d``."""
        text = self.render(query, _DOCUMENT_MARK, instruction)
        if text.count(_DOCUMENT_MARK) != 1:
            raise ValueError(f"score template {self.name!r} must place the document exactly once")
        head, tail = text.split(_DOCUMENT_MARK)
        return head, tail
