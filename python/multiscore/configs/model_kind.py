"""What a served model computes: declared by its model class (``kind``), resolved once at start-up
into ``ModelConfig.kind``, and what the serving layer reads to pick a scorer and refuse tasks."""

from __future__ import annotations

import enum


class Task(str, enum.Enum):
    """What a client may ask of a model beyond SGLang's ``/v1/score`` (which every kind serves)."""

    CLASSIFY = "classify"  # class scores per input (/classify, /pooling on a classifier)
    EMBED = "embed"  # one vector per input (/v1/embeddings, /pooling)
    SCORE = "score"  # one relevance score per (query, document): /rerank, vLLM's /score
    TOKEN_EMBED = "token_embed"  # a vector per token (/pooling)
    TOKEN_CLASSIFY = "token_classify"  # class scores per token (/pooling)


class ModelKind(enum.Enum):
    CAUSAL_LM = "causal_lm"  # decoder + LM head: next-token probabilities of label tokens
    DECODER_CLASSIFIER = "decoder_classifier"  # decoder + classification head at the last token
    DECODER_EMBEDDING = "decoder_embedding"  # bare decoder: a pooled hidden state
    ENCODER_CLASSIFIER = "encoder_classifier"  # BERT-style cross-encoder: a pair in one sequence
    ENCODER_EMBEDDING = "encoder_embedding"  # BERT-style bi-encoder
    # BERT-style masked LM served as SPLADE: a vocabulary-sized sparse lexical vector per text.
    ENCODER_SPARSE_EMBEDDING = "encoder_sparse_embedding"
    # ColBERT: a vector per token; a document's score is MaxSim against the query's vectors.
    ENCODER_LATE_INTERACTION = "encoder_late_interaction"
    # Token classifiers (NER, PII, POS taggers): class scores for every token; BERT-style or a decoder's.
    ENCODER_TOKEN_CLASSIFIER = "encoder_token_classifier"
    DECODER_TOKEN_CLASSIFIER = "decoder_token_classifier"
    # A listwise reranker (jina-reranker-v3): the query and a block of documents in one prompt, each
    # document's relevance the cosine of its vector and the query's, read at their marker tokens.
    LISTWISE_RERANKER = "listwise_reranker"

    @property
    def bidirectional(self) -> bool:
        """Every token sees every other: pairs are one sequence, and MIS cannot apply."""
        return self in (ModelKind.ENCODER_CLASSIFIER, ModelKind.ENCODER_EMBEDDING, ModelKind.ENCODER_SPARSE_EMBEDDING,
                        ModelKind.ENCODER_LATE_INTERACTION, ModelKind.ENCODER_TOKEN_CLASSIFIER)

    @property
    def shares_query(self) -> bool:
        """A causal decoder that reads each item after its query: MIS packs its items, and its
        single-item sequences may share the query's cached keys."""
        return self in (ModelKind.CAUSAL_LM, ModelKind.DECODER_CLASSIFIER)

    @property
    def late_interaction(self) -> bool:
        """Query and documents are encoded apart, to a vector per token, and scored by MaxSim."""
        return self is ModelKind.ENCODER_LATE_INTERACTION

    @property
    def classifies_tokens(self) -> bool:
        """Its only output is class scores per token (transformers' ``*ForTokenClassification``)."""
        return self in (ModelKind.ENCODER_TOKEN_CLASSIFIER, ModelKind.DECODER_TOKEN_CLASSIFIER)

    @property
    def embeds(self) -> bool:
        return self in (ModelKind.DECODER_EMBEDDING, ModelKind.ENCODER_EMBEDDING, ModelKind.ENCODER_SPARSE_EMBEDDING)

    @property
    def sparse(self) -> bool:
        """Its embeddings are SPLADE vectors over the vocabulary (TEI's /embed_sparse)."""
        return self is ModelKind.ENCODER_SPARSE_EMBEDDING

    def tasks(self, num_labels: int) -> frozenset[Task]:
        if self is ModelKind.CAUSAL_LM:
            return frozenset()  # serve it as a reranker by conversion (seq_cls_conversion.py)
        if self is ModelKind.LISTWISE_RERANKER:
            return frozenset({Task.SCORE})
        if self.sparse:  # relevance is their dot product, not the cosine the score routes compute
            return frozenset({Task.EMBED})
        if self.late_interaction:  # no one vector per text: vLLM refuses embed for ColBERT too
            return frozenset({Task.SCORE, Task.TOKEN_EMBED})
        if self.classifies_tokens:
            return frozenset({Task.TOKEN_CLASSIFY})
        if self.embeds:
            return frozenset({Task.EMBED, Task.SCORE, Task.TOKEN_EMBED})  # score: cosine similarity
        return frozenset({Task.CLASSIFY, Task.TOKEN_CLASSIFY} | ({Task.SCORE} if num_labels == 1 else set()))
