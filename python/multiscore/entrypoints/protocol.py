"""Pydantic request models of the HTTP API (the schema users and the OpenAPI document see)."""

from __future__ import annotations

import uuid

from typing import Annotated, Literal, Optional, Union

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from multiscore.entrypoints.encoding import EmbedDtype, EncodingFormat, Endianness
from multiscore.tokenizer.chat import ChatInput

# vLLM's and OpenAI's input forms: a text, texts, token ids, or lists of token ids.
InputTexts = Union[StrictStr, list[StrictStr], list[StrictInt], list[list[StrictInt]]]
# vLLM's ``use_activation``, also read under its older name ``activation``.
UseActivation = Annotated[Optional[StrictBool], Field(validation_alias=AliasChoices("use_activation", "activation"))]


class ScoreRequest(BaseModel):
    """``POST /v1/score`` (SGLang-compatible; DESIGN.md §3)."""

    model_config = ConfigDict(extra="ignore")

    query: Union[StrictStr, list[StrictInt]]
    items: Union[StrictStr, list[StrictStr], list[list[StrictInt]]]
    label_token_ids: Optional[list[StrictInt]] = None
    apply_softmax: StrictBool = False
    item_first: StrictBool = False
    model: str = "default"
    # SGLang's embedding overrides: vectors replacing the input embedding of each placeholder token.
    embed_override_token_id: Optional[StrictInt] = None
    query_embed_overrides: Optional[list[list[float]]] = None
    item_embed_overrides: Optional[list[Optional[list[list[float]]]]] = None
    return_pooled_hidden_states: StrictBool = False
    priority: Optional[StrictInt] = None  # SGLang's: higher runs first; requests of one priority take turns


def error_body(message: str, code: int, error_type: str, param: Optional[str] = None) -> dict:
    """Every client's error shape in one body: SGLang's (and older vLLM's) flat fields beside
    OpenAI's / current vLLM's nested ``error`` (``param``: the field at fault, when one is)."""
    error = {"message": message, "type": error_type, "param": param, "code": code}
    return {"object": "error", **error, "error": error}


class TextObject(BaseModel):
    """A document as ``{"text": ...}`` (Jina, Cohere v1, vLLM content parts)."""

    model_config = ConfigDict(extra="ignore")

    text: StrictStr


TextLike = Union[StrictStr, TextObject]
JinaEmbeddingType = Literal["float", "base64", "binary", "ubinary"]


def text_of(value: Union[str, TextObject]) -> str:
    return value if isinstance(value, str) else value.text


class ChatOrInput(BaseModel):
    """vLLM's two forms of an input list: ``input`` (texts or token ids) or chat ``messages``
    rendered by the tokenizer's chat template (special tokens then come from the template)."""

    model_config = ConfigDict(extra="ignore")

    input: Optional[InputTexts] = None
    messages: Optional[list[dict]] = None
    add_generation_prompt: StrictBool = False
    continue_final_message: StrictBool = False
    chat_template: Optional[StrictStr] = None
    chat_template_kwargs: Optional[dict] = None
    add_special_tokens: Optional[StrictBool] = None  # None: true for input, false for messages

    def inputs(self):
        """-> the texts / token ids, or a ChatInput."""
        if self.input is None and self.messages is None:
            raise ValueError("invalid request: input: Field required (or chat 'messages')")
        if self.input is not None and self.messages is not None:
            raise ValueError("give either 'input' or chat 'messages', not both")
        if self.input is not None:
            return self.input
        return ChatInput(
            self.messages, add_generation_prompt=self.add_generation_prompt,
            continue_final_message=self.continue_final_message, chat_template=self.chat_template,
            chat_template_kwargs=self.chat_template_kwargs or {},
        )


class ClassifyRequest(ChatOrInput):
    """``POST /classify``, ``/v1/classify`` (vLLM)."""

    model: Optional[str] = None
    use_activation: UseActivation = None
    truncate_prompt_tokens: Optional[StrictInt] = None


class SglangEncodeRequest(BaseModel):
    """SGLang's ``POST /encode`` (embeddings) and ``/classify`` (classifiers, reward models) body,
    its EmbeddingReqInput: ``text`` or ``input_ids``, one input or a list of them."""

    model_config = ConfigDict(extra="ignore")

    text: Optional[Union[StrictStr, list[StrictStr]]] = None
    input_ids: Optional[Union[list[StrictInt], list[list[StrictInt]]]] = None
    rid: Optional[Union[StrictStr, list[StrictStr]]] = None
    dimensions: Optional[StrictInt] = None

    @staticmethod
    def matches(body: dict) -> bool:
        """SGLang's fields, and none of vLLM's (``input``, ``messages``)."""
        return ("text" in body or "input_ids" in body) and "input" not in body and "messages" not in body

    def inputs(self) -> tuple[Union[list[str], list[list[int]]], bool]:
        """-> (the inputs as a list, whether one input was given rather than a list)."""
        if (self.text is None) == (self.input_ids is None):
            raise ValueError("give either 'text' or 'input_ids'")
        if self.text is not None:
            single = isinstance(self.text, str)
            inputs = [self.text] if single else self.text
        else:
            single = not self.input_ids or isinstance(self.input_ids[0], int)
            inputs = [self.input_ids] if single else self.input_ids
        if not inputs:
            raise ValueError("the request has no input")
        return inputs, single

    def rids(self, count: int) -> list[str]:
        """Each input's id: the given ones, or new random ones (SGLang's uuid hex)."""
        if self.rid is None:
            return [uuid.uuid4().hex for _ in range(count)]
        given = [self.rid] if isinstance(self.rid, str) else self.rid
        if len(given) != count:
            raise ValueError(f"'rid' has {len(given)} ids for {count} inputs")
        return given


# vLLM's score field pairs, in the order they are looked for.
VLLM_SCORE_FIELDS = (("text_1", "text_2"), ("queries", "documents"), ("queries", "items"), ("data_1", "data_2"))


class VllmScoreRequest(BaseModel):
    """vLLM's ``POST /score`` body: two sides paired 1:1, 1:N or N:N."""

    model_config = ConfigDict(extra="ignore")

    text_1: Optional[Union[TextLike, list[TextLike]]] = None
    text_2: Optional[Union[TextLike, list[TextLike]]] = None
    queries: Optional[Union[TextLike, list[TextLike]]] = None
    documents: Optional[Union[TextLike, list[TextLike]]] = None
    items: Optional[Union[TextLike, list[TextLike]]] = None
    data_1: Optional[Union[TextLike, list[TextLike]]] = None
    data_2: Optional[Union[TextLike, list[TextLike]]] = None
    model: Optional[str] = None
    use_activation: UseActivation = None
    truncate_prompt_tokens: Optional[StrictInt] = None
    instruction: Optional[StrictStr] = None
    chat_template_kwargs: Optional[dict] = None  # more score-template variables
    # vLLM's generative scores (a CausalLM): the tokens whose next-token probabilities score a pair
    label_token_ids: Optional[list[StrictInt]] = None
    apply_softmax: Optional[StrictBool] = None  # over the label tokens; default true

    def sides(self) -> tuple[list[str], list[str]]:
        for first, second in VLLM_SCORE_FIELDS:
            a, b = getattr(self, first), getattr(self, second)
            if a is None and b is None:
                continue
            if first == "queries" and b is None and self.items is not None:
                continue  # queries/items
            if a is None or b is None:
                raise ValueError(f"'{first}' and '{second}' must be given together")
            return _texts(a), _texts(b)
        raise ValueError("give the two sides to score as text_1/text_2, queries/documents or data_1/data_2")

    @staticmethod
    def matches(body: dict) -> bool:
        """A vLLM-style body (rather than SGLang's ``query``/``items``)."""
        if "query" in body or ("items" in body and "queries" not in body):
            return False  # SGLang's query/items (a missing query is reported as such)
        return any(k in body for pair in VLLM_SCORE_FIELDS for k in pair)


def _texts(value) -> list[str]:
    return [text_of(v) for v in value] if isinstance(value, list) else [text_of(value)]


class GenerativeScoreRequest(BaseModel):
    """vLLM's ``POST /v1/generative-scores`` (a CausalLM): the next-token probabilities of
    ``label_token_ids`` after query + item (item + query with ``item_first``), per item."""

    model_config = ConfigDict(extra="ignore")

    model: Optional[str] = None
    query: Union[StrictStr, list[StrictInt]]
    items: Union[list[StrictStr], list[list[StrictInt]]]
    label_token_ids: list[StrictInt]
    apply_softmax: StrictBool = True  # over the label tokens; false: the full vocabulary's probabilities
    item_first: StrictBool = False
    add_special_tokens: StrictBool = True
    priority: StrictInt = 0
    # Sampling settings have nothing to change in a probability read from one forward pass: only
    # their "off" values are accepted.
    temperature: Optional[float] = None
    top_k: Optional[StrictInt] = None
    top_p: Optional[float] = None

    def check_sampling(self) -> None:
        for name, value, off in (("temperature", self.temperature, (0.0, 1.0)), ("top_k", self.top_k, (0, -1)),
                                 ("top_p", self.top_p, (1.0,))):
            if value is not None and value not in off:
                raise ValueError(f"{name}={value}: scores are the model's next-token probabilities, read without "
                                 f"sampling; leave {name} unset")


class RerankRequest(BaseModel):
    """``POST /rerank``, ``/v1/rerank`` (Jina, vLLM) and ``/v2/rerank`` (Cohere v2)."""

    model_config = ConfigDict(extra="ignore")

    query: StrictStr
    documents: list[TextLike]
    model: Optional[str] = None
    top_n: Optional[StrictInt] = None
    return_documents: Optional[StrictBool] = None  # None = True
    max_tokens_per_doc: Optional[StrictInt] = None
    use_activation: UseActivation = None
    # vLLM's name, and SGLang's (its /v1/rerank body says ``instruct``)
    instruction: Annotated[Optional[StrictStr], Field(validation_alias=AliasChoices("instruction", "instruct"))] = None
    chat_template_kwargs: Optional[dict] = None  # more score-template variables
    truncate_prompt_tokens: Optional[StrictInt] = None


class EmbeddingRequest(ChatOrInput):
    """``POST /v1/embeddings`` (OpenAI), with vLLM's ``truncate_prompt_tokens`` / ``add_special_tokens``
    and Jina's fields: ``task`` (a task adapter, jina-embeddings-v3's), ``normalized``, ``embedding_type``,
    ``truncate``, ``late_chunking`` and ``{"text": ...}`` inputs."""

    input: Optional[Union[InputTexts, list[TextLike]]] = None
    model: Optional[str] = None
    encoding_format: EncodingFormat = "float"
    embed_dtype: EmbedDtype = "float32"  # base64 / bytes: the values' type ...
    endianness: Endianness = "native"  # ... and byte order
    dimensions: Optional[StrictInt] = None
    user: Optional[str] = None
    truncate_prompt_tokens: Optional[StrictInt] = None
    use_activation: UseActivation = None  # false: the embedding as pooled, not normalised
    task: Optional[StrictStr] = None  # Jina's: the model's task adapter (on /pooling: vLLM's pooling task)
    normalized: Optional[StrictBool] = None  # Jina's: true / false overrides the model's normalisation
    embedding_type: Optional[JinaEmbeddingType] = None  # Jina's: each vector as float, base64 or packed sign bits
    truncate: Optional[StrictBool] = None  # Jina's: true cuts an input at the context length (false: refused)
    late_chunking: Optional[StrictBool] = None  # Jina's: the inputs are chunks of one text, embedded together

    def inputs(self):
        if isinstance(self.input, list) and any(isinstance(x, TextObject) for x in self.input):
            return [text_of(x) for x in self.input]
        return super().inputs()


class PoolingRequest(EmbeddingRequest):
    """``POST /pooling`` (vLLM): the model's pooled output per input (embedding, or class probabilities);
    ``task`` picks it (embed, classify, score, token_embed, token_classify)."""

    task: Optional[StrictStr] = None
    input_type: Optional[StrictStr] = None  # ColBERT models: "query" or "document" (vLLM's)


class TokenizeRequest(BaseModel):
    """``POST /tokenize`` (vLLM): a ``prompt``, or chat ``messages`` rendered by the chat template."""

    model_config = ConfigDict(extra="ignore")

    model: Optional[str] = None
    prompt: Optional[StrictStr] = None
    messages: Optional[list[dict]] = None
    add_special_tokens: Optional[StrictBool] = None  # None: true for a prompt, false for messages
    add_generation_prompt: StrictBool = True  # vLLM's default for /tokenize
    continue_final_message: StrictBool = False
    chat_template: Optional[StrictStr] = None
    chat_template_kwargs: Optional[dict] = None
    return_token_strs: StrictBool = False


class DetokenizeRequest(BaseModel):
    """``POST /detokenize`` (vLLM)."""

    model_config = ConfigDict(extra="ignore")

    model: Optional[str] = None
    tokens: list[StrictInt]


# ---- Hugging Face text-embeddings-inference (TEI) -------------------------------------------------

TruncationDirection = Literal["Left", "Right"]


class TeiEmbedRequest(BaseModel):
    """TEI's ``POST /embed``."""

    model_config = ConfigDict(extra="ignore")

    inputs: Union[StrictStr, list[StrictStr]]
    normalize: StrictBool = True
    truncate: Optional[StrictBool] = None
    truncation_direction: TruncationDirection = "Right"
    dimensions: Optional[StrictInt] = None
    prompt_name: Optional[StrictStr] = None  # a key of config_sentence_transformers.json's prompts


class TeiRerankRequest(BaseModel):
    """TEI's ``POST /rerank``: ``texts`` (Jina's and Cohere's say ``documents``)."""

    model_config = ConfigDict(extra="ignore")

    query: StrictStr
    texts: list[StrictStr]
    truncate: Optional[StrictBool] = None
    raw_scores: StrictBool = False
    return_text: StrictBool = False


class TeiPredictRequest(BaseModel):
    """TEI's ``POST /predict``: a text, a [text, text] pair, or a list of them."""

    model_config = ConfigDict(extra="ignore")

    inputs: Union[StrictStr, list[Union[StrictStr, list[StrictStr]]]]
    truncate: Optional[StrictBool] = None
    raw_scores: StrictBool = False


class TeiTokenizeRequest(BaseModel):
    """TEI's ``POST /tokenize`` (``inputs``; vLLM's body says ``prompt``)."""

    model_config = ConfigDict(extra="ignore")

    inputs: Union[StrictStr, list[StrictStr]]
    add_special_tokens: StrictBool = True
    prompt_name: Optional[StrictStr] = None


class TeiDecodeRequest(BaseModel):
    """TEI's ``POST /decode``: one id list or a list of them."""

    model_config = ConfigDict(extra="ignore")

    ids: Union[list[StrictInt], list[list[StrictInt]]]
    skip_special_tokens: StrictBool = True


class TeiEmbedAllRequest(BaseModel):
    """TEI's ``POST /embed_all``: every token's final hidden state, not pooled."""

    model_config = ConfigDict(extra="ignore")

    inputs: Union[StrictStr, list[StrictStr]]
    truncate: Optional[StrictBool] = None
    truncation_direction: TruncationDirection = "Right"
    prompt_name: Optional[StrictStr] = None


class TeiEmbedSparseRequest(TeiEmbedAllRequest):
    """TEI's ``POST /embed_sparse`` (SPLADE models): the same fields as /embed_all."""


class SimilarityInputs(BaseModel):
    source_sentence: StrictStr
    sentences: list[StrictStr]


class TeiSimilarityRequest(BaseModel):
    """TEI's ``POST /similarity``."""

    model_config = ConfigDict(extra="ignore")

    inputs: SimilarityInputs
    truncate: Optional[StrictBool] = None


class InfinityEmbeddingRequest(BaseModel):
    """Infinity's ``POST /embeddings``: OpenAI's body with ``modality`` (text only here) and
    ``dimensions`` 0 for the whole embedding, which its client always sends."""

    model_config = ConfigDict(extra="ignore")

    input: Union[StrictStr, list[StrictStr]]
    model: Optional[str] = None
    encoding_format: Literal["float", "base64"] = "float"
    user: Optional[str] = None
    dimensions: StrictInt = 0
    modality: StrictStr = "text"

    @staticmethod
    def matches(body: dict) -> bool:
        """An Infinity body on /v1/embeddings (OpenAI's route): its client sends ``modality``."""
        return "modality" in body


class InfinityRerankRequest(BaseModel):
    """Infinity's ``POST /rerank``: Cohere's fields with ``raw_scores``; documents come back as strings."""

    model_config = ConfigDict(extra="ignore")

    query: StrictStr
    documents: list[StrictStr]
    return_documents: StrictBool = False
    raw_scores: StrictBool = False
    model: Optional[str] = None
    top_n: Optional[StrictInt] = None

    @staticmethod
    def matches(body: dict) -> bool:
        """``raw_scores`` with ``documents``: TEI's body says ``texts``, Jina's, Cohere's and vLLM's have no raw_scores."""
        return "raw_scores" in body and "documents" in body


class InfinityClassifyRequest(BaseModel):
    """Infinity's ``POST /classify``: texts, each answered with every label's score."""

    model_config = ConfigDict(extra="ignore")

    input: Union[StrictStr, list[StrictStr]]
    model: Optional[str] = None
    raw_scores: StrictBool = False

    @staticmethod
    def matches(body: dict) -> bool:
        """``raw_scores`` with ``input``: vLLM's /classify body has no raw_scores, SGLang's no input."""
        return "raw_scores" in body and "input" in body


# ---- Cohere embed (v1 and v2) --------------------------------------------------------------------

CohereEmbeddingType = Literal["float", "int8", "uint8", "binary", "ubinary", "base64"]


class CohereContentPart(BaseModel):
    """One part of a Cohere v2 ``inputs`` entry: text (served) or an image (refused: text models)."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["text", "image_url"]
    text: Optional[StrictStr] = None
    image_url: Optional[dict] = None


class CohereInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    content: list[CohereContentPart]


class CohereEmbedRequest(BaseModel):
    """Cohere's ``POST /v2/embed`` and ``/v1/embed`` (v1 has no ``inputs``, ``max_tokens`` or
    ``output_dimension``; they are read the same way if sent)."""

    model_config = ConfigDict(extra="ignore")

    model: Optional[str] = None
    input_type: Optional[StrictStr] = None
    texts: Optional[list[StrictStr]] = None
    images: Optional[list[StrictStr]] = None
    inputs: Optional[list[CohereInput]] = None
    embedding_types: Optional[list[CohereEmbeddingType]] = None
    truncate: Optional[Literal["NONE", "START", "END"]] = None  # None = END, Cohere's default
    max_tokens: Optional[StrictInt] = None
    output_dimension: Optional[StrictInt] = None
    priority: Optional[StrictInt] = None  # Cohere's scheduling hint; every request is served fairly here

    def text_inputs(self) -> list[str]:
        """The texts to embed: ``texts``, or each of ``inputs``' text parts joined by a newline."""
        if self.images:
            raise ValueError("'images' cannot be embedded: this server serves text models (give 'texts')")
        if (self.texts is None) == (self.inputs is None):
            raise ValueError("give either 'texts' or 'inputs'")
        if self.texts is not None:
            if not self.texts:
                raise ValueError("'texts' must not be empty")
            return self.texts
        texts = []
        for i, entry in enumerate(self.inputs):
            if any(part.type != "text" for part in entry.content):
                raise ValueError(f"inputs[{i}] holds an image: this server serves text models (text parts only)")
            parts = [part.text for part in entry.content if part.text is not None]
            if not parts:
                raise ValueError(f"inputs[{i}] has no text")
            texts.append("\n".join(parts))
        if not texts:
            raise ValueError("'inputs' must not be empty")
        return texts
