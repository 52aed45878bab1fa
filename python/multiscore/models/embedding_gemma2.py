"""EmbeddingGemma 2 (transformers' ``embedding_gemma2``, google/embeddinggemma-2), on text:
``EmbeddingGemma2TextModel``, and the multimodal ``EmbeddingGemma2Model`` served as it
(configs/checkpoint_layouts.py; the vision and audio towers are not loaded).

Gemma 4's text layers (gemma4.py: layers of their own shape, per-head q/k/v norms, per-layer-type
rotary, sliding and global layers, PLE, ``layer_scalar``) as an encoder: every layer bidirectional,
a sliding layer seeing ``|q - k| <= sliding_window`` (the config's window is already that radius);
per-layer embeddings from the projection of the embeddings alone (no token-id table); and
``embedding_projection`` after the final norm, per token, to ``embedding_dim``. Embeddings are the
mean over a text's tokens, L2-normalised (its model card's), unless sentence-transformers files
say otherwise; its task prompts (``config_sentence_transformers.json``) are served as prompts.

Checkpoint names: the PLE block's ``layers.N.ple_block.*`` and the text model's ``ple.*`` are
Gemma 4's ``layers.N.per_layer_*`` and ``per_layer_*``.
"""

from __future__ import annotations

from multiscore.configs.model_kind import ModelKind
from multiscore.layers.pooler import PoolingMethod
from multiscore.models.decoder import DecoderForEmbedding
from multiscore.models.gemma4 import _Gemma4


class EmbeddingGemma2TextModel(_Gemma4, DecoderForEmbedding):
    kind = ModelKind.ENCODER_EMBEDDING
    weight_renames = {"ple_block.": "", "ple.per_layer_": "per_layer_"}

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        """An encoder whatever the config says (transformers' layers are never causal)."""
        hf_config.is_causal = False

    @classmethod
    def default_pooling(cls, hf_config) -> str:
        return PoolingMethod.MEAN.value
