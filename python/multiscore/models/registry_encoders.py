"""The encoders' entries of the architecture registry (registry.py): architecture name -> module under models/.
Bidirectional encoders, their classifiers and taggers, and the encoder-decoder classifiers (BART's kin, T5's)."""

ENCODER_MODELS = {
    "UltrabertModel": "ultrabert",  # Llama's blocks as an encoder, sliding and full layers
    "UltrabertForSequenceClassification": "ultrabert",
    "UltrabertForTokenClassification": "ultrabert",
    "BertModel": "bert",
    "BertForSequenceClassification": "bert",
    "BertForTokenClassification": "bert",
    "BertForMaskedLM": "splade",  # served as SPLADE: a sparse lexical vector per text
    "BertSpladeSparseEmbeddingModel": "splade",  # vLLM's override name for the same
    "JinaEmbeddingsV3Model": "jina_embeddings_v3",  # jina-embeddings-v3-hf: XLM-R with rotary
    "JinaEmbeddingsV3ForSequenceClassification": "jina_embeddings_v3",
    "JinaEmbeddingsV3ForTokenClassification": "jina_embeddings_v3",
    "XLMRobertaLoRA": "jina_embeddings_v3",  # jinaai/jina-embeddings-v3 as published (remote code, read without it)
    "XLMRobertaModel": "xlm_roberta",
    "XLMRobertaForSequenceClassification": "xlm_roberta",
    "XLMRobertaForTokenClassification": "xlm_roberta",
    "XLMRobertaXLModel": "prenorm_encoders",  # pre-norm BERT layers: XLM-R XL / XXL, RoBERTa-PreLN, Megatron-BERT
    "XLMRobertaXLForSequenceClassification": "prenorm_encoders",
    "XLMRobertaXLForTokenClassification": "prenorm_encoders",
    "RobertaPreLayerNormModel": "prenorm_encoders",
    "RobertaPreLayerNormForSequenceClassification": "prenorm_encoders",
    "RobertaPreLayerNormForTokenClassification": "prenorm_encoders",
    "MegatronBertModel": "prenorm_encoders",
    "MegatronBertForSequenceClassification": "prenorm_encoders",
    "MegatronBertForTokenClassification": "prenorm_encoders",
    "MobileBertModel": "mobilebert",  # bottlenecked BERT layers, NoNorm, trigram embeddings
    "MobileBertForSequenceClassification": "mobilebert",
    "MobileBertForTokenClassification": "mobilebert",
    "RoFormerModel": "roformer",  # BERT's layers with rotary q/k (Chinese RoFormer and its classifiers)
    "RoFormerForSequenceClassification": "roformer",
    "RoFormerForTokenClassification": "roformer",
    "RobertaModel": "roberta",
    "RobertaForSequenceClassification": "roberta",
    "RobertaForTokenClassification": "roberta",
    "CamembertModel": "roberta",
    "CamembertForSequenceClassification": "roberta",
    "CamembertForTokenClassification": "roberta",
    "IBertModel": "roberta",  # I-BERT in float mode: RoBERTa under ibert.
    "IBertForSequenceClassification": "roberta",
    "IBertForTokenClassification": "roberta",
    "FNetModel": "fnet",  # BERT's layers with a 2-D Fourier transform for attention
    "FNetForSequenceClassification": "fnet",
    "FNetForTokenClassification": "fnet",
    "XLNetModel": "xlnet",  # relative attention with segment terms; the classifier on the last token (<cls>)
    "XLNetForSequenceClassification": "xlnet",
    "XLNetForTokenClassification": "xlnet",
    "LukeModel": "roberta",  # LUKE / mLUKE on words alone: RoBERTa's layers under luke., BERT's pooler for the classifier
    "LukeForSequenceClassification": "roberta",
    "LukeForTokenClassification": "roberta",
    "ConvBertModel": "convbert",  # BERT's layers with span-based dynamic convolution heads beside the attention heads
    "ConvBertForSequenceClassification": "convbert",
    "ConvBertForTokenClassification": "convbert",
    "XmodModel": "xmod",  # X-MOD: XLM-R with a language adapter per layer, for the config's default_language
    "XmodForSequenceClassification": "xmod",
    "XmodForTokenClassification": "xmod",
    "LongformerModel": "longformer",  # RoBERTa's layers, sliding-window attention, the classifier's first token global
    "LongformerForSequenceClassification": "longformer",
    "LongformerForTokenClassification": "longformer",
    "Data2VecTextModel": "roberta",  # RoBERTa's architecture, its backbone named data2vec_text
    "Data2VecTextForSequenceClassification": "roberta",
    "Data2VecTextForTokenClassification": "roberta",
    "RemBertModel": "albert",  # Google RemBERT: BERT's layers behind narrower embeddings widened as ALBERT's
    "RemBertForSequenceClassification": "albert",
    "RemBertForTokenClassification": "albert",
    "AlbertModel": "albert",  # BERT's layer shared by every layer, factorised embeddings
    "AlbertForSequenceClassification": "albert",
    "AlbertForTokenClassification": "albert",
    "ElectraModel": "electra",
    "ElectraForSequenceClassification": "electra",
    "ElectraForTokenClassification": "electra",
    "DistilBertModel": "distilbert",
    "DistilBertForSequenceClassification": "distilbert",
    "DistilBertForTokenClassification": "distilbert",
    "DistilBertForMaskedLM": "splade",
    "RobertaForMaskedLM": "splade",
    "XLMRobertaForMaskedLM": "splade",
    "CamembertForMaskedLM": "splade",
    "GteForMaskedLM": "splade",
    "NewForMaskedLM": "splade",
    "ModernBertModel": "modernbert",
    "ModernBertForSequenceClassification": "modernbert",
    "ModernBertForTokenClassification": "modernbert",
    "NomicBertModel": "nomic_bert",
    "NomicBertForSequenceClassification": "nomic_bert",
    "NomicBertForTokenClassification": "nomic_bert",
    "DebertaModel": "deberta",  # v1: DeBERTa-v2's layers, v1's attention projections (deberta-large-mnli)
    "DebertaForSequenceClassification": "deberta",
    "DebertaForTokenClassification": "deberta",
    "DebertaV2Model": "deberta_v2",
    "DebertaV2ForSequenceClassification": "deberta_v2",
    "DebertaV2ForTokenClassification": "deberta_v2",
    "MBartForSequenceClassification": "bart",  # mBART: pre-norm, the decoder starting from the language id
    "PLBartForSequenceClassification": "bart",
    "MvpForSequenceClassification": "bart",
    "BartForSequenceClassification": "bart",  # an encoder-decoder: bart-large-mnli (zero-shot), distilbart-mnli
    "SqueezeBertModel": "squeezebert",  # SqueezeBERT: BERT's post-norm layers on grouped 1x1 convolutions
    "SqueezeBertForSequenceClassification": "squeezebert",
    "BigBirdModel": "big_bird",  # BigBird: BERT's layers, exact up to where its block-sparse attention starts
    "BigBirdForSequenceClassification": "big_bird",
    "BigBirdForTokenClassification": "big_bird",
    "XLMModel": "xlm",  # XLM / FlauBERT: post-norm (or pre-norm) layers, segment ids through the token embeddings
    "XLMForSequenceClassification": "xlm",
    "XLMForTokenClassification": "xlm",
    "FlaubertModel": "xlm",
    "FlaubertForSequenceClassification": "xlm",
    "FlaubertForTokenClassification": "xlm",
    "EsmcModel": "esmc",  # ESM C: Llama's layers, bidirectional, LayerNorms, q/k normed over all heads, scaled residuals
    "EsmcForSequenceClassification": "esmc",
    "EsmcForTokenClassification": "esmc",
    "EsmModel": "esm",  # protein language models (ESM-2, ESM-1b): pre-norm layers, rotary or learned positions
    "EsmForSequenceClassification": "esm",
    "EsmForTokenClassification": "esm",
    "MPNetModel": "mpnet",
    "MPNetForSequenceClassification": "mpnet",
    "MPNetForTokenClassification": "mpnet",
    "GteModel": "gte",
    "GteForSequenceClassification": "gte",
    "GteForTokenClassification": "gte",
    "ErnieModel": "ernie",
    "ErnieForSequenceClassification": "ernie",
    "ErnieForTokenClassification": "ernie",
    "EuroBertModel": "eurobert",
    "EuroBertForSequenceClassification": "eurobert",
    "EuroBertForTokenClassification": "eurobert",
    "NewModel": "gte",  # the original remote code's names for the same (model_type "new")
    "NewForSequenceClassification": "gte",
    "NewForTokenClassification": "gte",
    "GteNewModel": "gte",  # vLLM's names for the two above
    "GteNewForSequenceClassification": "gte",
    "T5ForConditionalGeneration": "monot5",  # MonoT5: read at its first decoding step
    "MT5ForConditionalGeneration": "monot5",
    "T5EncoderModel": "t5",  # gtr-t5-*, sentence-t5-*
    "MT5EncoderModel": "t5",
    "UMT5EncoderModel": "t5",  # google/umt5-*: T5's encoder with a relative bias table in every block
    "T5ForTokenClassification": "t5",  # the encoder and a classifier on every token
    "T5ForSequenceClassification": "t5_classifier",  # encoder-decoder, read at the last </s>
    "MT5ForSequenceClassification": "t5_classifier",
    "UMT5ForSequenceClassification": "t5_classifier",
    "MT5ForTokenClassification": "t5",
    "UMT5ForTokenClassification": "t5",
    "BgeM3EmbeddingModel": "bge_m3",  # vLLM's name: BGE-M3's dense, multi-vector and sparse outputs
    "StaticEmbeddingModel": "static_embedding",  # sentence-transformers' StaticEmbedding (configs/static_embedding.py)
    "HF_ColBERT": "colbert",  # ColBERT: a vector per token, MaxSim scores
    "ColBERTModel": "colbert",  # vLLM's names
    "ColBERTModernBertModel": "colbert",
}
