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

from multiscore.configs.json_files import read_json

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
# jina-reranker-m0's pair format (vLLM's, from the model's card): the document first; then its score
# token, id 100, appended to the tokens (BUILTIN_SUFFIX_TOKENS).
JINA_RERANKER_M0 = "**Document**:\n{{ (messages | selectattr('role', 'equalto', 'document') | first).content }}\n" \
    "**Query**:\n{{ (messages | selectattr('role', 'equalto', 'query') | first).content }}\n"
# FlagEmbedding's LLM rerankers (bge-reranker-v2-gemma, bge-reranker-v2-minicpm-layerwise): "A: " before the
# query, "B: " before the passage, then its prompt (a request's ``instruction``, as FlagEmbedding's
# ``prompt``), after <bos>. Its text; the ids are FlagEmbedding's, piece by piece (FlagEmbeddingPrompt).
BGE_DEFAULT_PROMPT = ("Given a query A and a passage B, determine whether the passage contains an answer to the query by "
                      "providing a prediction of either 'Yes' or 'No'.")
BGE_RERANKER = "A: {{ (messages | selectattr('role', 'equalto', 'query') | first).content }}\n" \
    "B: {{ (messages | selectattr('role', 'equalto', 'document') | first).content }}\n" \
    "{{ instruction or \"" + BGE_DEFAULT_PROMPT + "\" }}"
# bge-reranker-v2.5-gemma2-lightweight (FlagEmbedding's LightweightLLMReranker): the same, with its own default prompt.
BGE_LIGHTWEIGHT_PROMPT = "Predict whether passage B contains an answer to query A."
BGE_RERANKER_LIGHTWEIGHT = BGE_RERANKER.replace(BGE_DEFAULT_PROMPT, BGE_LIGHTWEIGHT_PROMPT)
# MonoT5's input (castorini's, and the mT5 mMARCO rerankers'); the tokenizer appends </s>.
MONOT5 = "Query: {{ (messages | selectattr('role', 'equalto', 'query') | first).content }} " \
    "Document: {{ (messages | selectattr('role', 'equalto', 'document') | first).content }} Relevant:"
BUILTIN_TEMPLATES = {"qwen3_reranker": QWEN3_RERANKER, "jina_reranker_m0": JINA_RERANKER_M0, "bge_reranker": BGE_RERANKER,
                     "bge_reranker_lightweight": BGE_RERANKER_LIGHTWEIGHT, "monot5": MONOT5}
BUILTIN_SUFFIX_TOKENS = {"jina_reranker_m0": (100,)}

# Stand in for the query and the document when checking a template; no real text contains them.
_DOCUMENT_MARK = "\x00multiscore-document\x00"
_QUERY_MARK = "\x00multiscore-query\x00"


class ScoreTemplate:
    """A Jinja template (module doc); ``prompt_ids`` renders a pair and tokenizes it whole, as vLLM does."""

    def __init__(self, source: str, tokenizer, name: str = "<template>", *, system_messages: bool = False,
                 system: Optional[str] = None, render_kwargs: Optional[dict] = None,
                 add_special_tokens: bool = True, suffix_token_ids: tuple[int, ...] = ()) -> None:
        """A sentence-transformers CrossEncoder's template (``from_sentence_transformers``) reads its
        prompt as a system message before the pair (``system_messages``: the request's
        ``instruction``, else ``system``), takes ``render_kwargs`` to ``apply_chat_template``, and
        its rendered text gets no special tokens added. ``suffix_token_ids`` follow every prompt's tokens."""
        self.source = source
        self.tokenizer = tokenizer
        self.name = name
        self.system_messages = system_messages
        self.system = system
        self.render_kwargs = render_kwargs or {}
        self.add_special_tokens = add_special_tokens
        self.suffix_token_ids = tuple(suffix_token_ids)
        text = self.render(_QUERY_MARK, _DOCUMENT_MARK)
        if _QUERY_MARK not in text:
            raise ValueError(f"score template {name!r} never uses the query (messages[role == 'query'])")
        if _DOCUMENT_MARK not in text:
            raise ValueError(f"score template {name!r} never uses the document (messages[role == 'document'])")

    @classmethod
    def load(cls, name_or_path: str, tokenizer) -> "ScoreTemplate":
        """A built-in name (``qwen3_reranker``, ``jina_reranker_m0``, ``bge_reranker``, ``bge_reranker_lightweight``,
        ``monot5``) or a Jinja file."""
        if name_or_path in BUILTIN_TEMPLATES:
            template_class = _BUILTIN_CLASSES.get(name_or_path, cls)
            return template_class(BUILTIN_TEMPLATES[name_or_path], tokenizer, name_or_path,
                                  suffix_token_ids=BUILTIN_SUFFIX_TOKENS.get(name_or_path, ()))
        if not os.path.isfile(name_or_path):
            raise ValueError(
                f"--score-template {name_or_path!r} is neither a file nor a built-in template "
                f"({', '.join(BUILTIN_TEMPLATES)})"
            )
        with open(name_or_path, encoding="utf-8") as f:
            return cls(f.read(), tokenizer, name_or_path)

    def prompt_ids(self, query: str, document: str, variables: Optional[dict] = None) -> list[int]:
        """One pair's prompt ids: the rendered text tokenized whole, then the suffix tokens (jina-reranker-m0's)."""
        ids = self.tokenizer(self.render(query, document, variables), add_special_tokens=self.add_special_tokens)["input_ids"]
        return list(ids) + list(self.suffix_token_ids)

    def render(self, query: str, document: str, variables: Optional[dict] = None) -> str:
        """``variables``: more template variables (vLLM's ``chat_template_kwargs``, ``instruction``);
        with ``system_messages``, the instruction (else the default prompt) is a system message."""
        variables = variables or {}
        messages = [{"role": "query", "content": query}, {"role": "document", "content": document}]
        system = (variables.get("instruction") or self.system) if self.system_messages else None
        if system:
            messages.insert(0, {"role": "system", "content": system})
        try:
            return self.tokenizer.apply_chat_template(
                messages, chat_template=self.source, tokenize=False, **{**self.render_kwargs, **variables}
            )
        except jinja2.TemplateSyntaxError as e:
            raise ValueError(f"score template {self.name!r} is not valid Jinja: {e}") from None
        except Exception as e:  # a template can raise anything (undefined names, arithmetic ...)
            raise ValueError(f"score template {self.name!r} failed to render: {type(e).__name__}: {e}") from None

    @classmethod
    def from_sentence_transformers(cls, model_dir: str, tokenizer) -> Optional["ScoreTemplate"]:
        """A sentence-transformers 6 CrossEncoder saved on a causal LM renders each pair with the
        tokenizer's chat template as ``[system: its default prompt] + [query, document]`` messages
        (its message mode, which the saved ``modality_config`` records); None in its text mode,
        which is query tokens + document tokens, this server's way without a template."""
        st_transformer = read_json(os.path.join(model_dir, "sentence_bert_config.json"), {})
        st_model = read_json(os.path.join(model_dir, "config_sentence_transformers.json"), {})
        prompts, default = st_model.get("prompts") or {}, st_model.get("default_prompt_name")
        prompt = prompts.get(default) if default else None
        if "message" not in (st_transformer.get("modality_config") or {}):
            if prompt:
                raise ValueError("this sentence-transformers CrossEncoder puts its prompt before the query text "
                                 "(its text mode, no chat template), which is not supported; save it with a chat template")
            return None
        if not tokenizer.chat_template:
            raise ValueError("this sentence-transformers CrossEncoder renders pairs with a chat template, and its "
                             "tokenizer has none")
        render_kwargs = dict((st_transformer.get("processing_kwargs") or {}).get("chat_template") or {})
        render_kwargs.pop("restore_suffix", None)  # truncation here only shortens the document: the ending stays
        source = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else None
        if source is None:
            raise ValueError("this sentence-transformers CrossEncoder's tokenizer has several named chat templates")
        return cls(source, tokenizer, "the checkpoint's chat template", system_messages=True, system=prompt,
                   render_kwargs=render_kwargs, add_special_tokens=False)


class FlagEmbeddingPrompt(ScoreTemplate):
    """The ``bge_reranker`` prompt with FlagEmbedding's ids: it tokenizes "A: " + query, the newline,
    "B: " + passage, the newline and the prompt each alone (no special tokens) and joins them after
    <bos>. A SentencePiece tokenizer that marks each text's start (Llama's, MiniCPM's) gives other ids
    for the whole text; these are the ones the reranker was trained and is run with."""

    default_prompt = BGE_DEFAULT_PROMPT

    def prompt_ids(self, query: str, document: str, variables: Optional[dict] = None) -> list[int]:
        head, tail = self.query_part(query), self.prompt_part(variables)
        return head + self._ids("B: " + document) + tail

    def query_part(self, query: str) -> list[int]:
        """What FlagEmbedding counts as the query: <bos>, "A: " + query, the newline."""
        if self.tokenizer.bos_token_id is None:
            raise ValueError("the bge_reranker prompt starts with <bos>, and this tokenizer has no bos_token")
        return [self.tokenizer.bos_token_id] + self._ids("A: " + query) + self._ids("\n")

    def prompt_part(self, variables: Optional[dict] = None) -> list[int]:
        """What FlagEmbedding counts as the prompt, after the passage: the newline, the instruction."""
        return self._ids("\n") + self._ids((variables or {}).get("instruction") or self.default_prompt)

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])


class FlagEmbeddingLightweightPrompt(FlagEmbeddingPrompt):
    """``bge_reranker_lightweight``: FlagEmbeddingPrompt with the lightweight reranker's default prompt."""

    default_prompt = BGE_LIGHTWEIGHT_PROMPT


# Built-in templates whose ids are not their text tokenized whole.
_BUILTIN_CLASSES = {"bge_reranker": FlagEmbeddingPrompt, "bge_reranker_lightweight": FlagEmbeddingLightweightPrompt}
