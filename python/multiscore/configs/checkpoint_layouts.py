"""Checkpoints published in another layout than the model class they are served by.

- Remote-code model types that transformers ships under its own name (Alibaba's GTE, model_type
  ``new``), or whose config is one of its types plus a few keys (NVIDIA's ``llama_bidirec``): their
  config.json is read as transformers' type, so they need neither the remote code nor
  ``--trust-remote-code`` (nor the network to fetch it). The same for a config with no model_type
  whose ``auto_map`` names a config class of such a type (jina-reranker-v2's ``XLMRobertaFlashConfig``).
- Multimodal checkpoints whose text is a language model served here (Gemma 3 4B-27B, Gemma 4, Llama 4, Mistral Small
  3.1/3.2 and 4, Qwen2-VL, Qwen2.5-VL, Qwen3-VL, Qwen3-VL-MoE, Qwen3.5, Qwen3.5-MoE, Cohere's North / Compass, and the
  LLaVA family, InternVL, Idefics3 / SmolVLM, Aya Vision and LFM2-VL around the language model their
  ``text_config`` names, GLM-4.xV and GLM-OCR around GLM-4's layers, granite-docling and Granite 4 Vision around Granite's, the Omni models'
  thinkers, LLaVA-OneVision-1.5, Ovis2.5, Qianfan-OCR, MiniCPM-V 4.6 / 4.7 ...): served as
  that language model, on text. The config
  becomes its ``text_config`` and the language model's tensors (``language_model.model.*``,
  ``model.language_model.*``, ``model.text_model.*``, or already ``model.*``) load under the text model's names; the vision
  tower and projector are not loaded.
"""

from __future__ import annotations

import json
import os

# model_type -> transformers' model_type.
NATIVE_MODEL_TYPES = {
    "new": "gte",  # Alibaba-NLP/gte-multilingual-*
    "llama_bidirec": "llama",  # NVIDIA's llama-nemotron embed / rerank (its pooling and temperature kept)
    "internlm2": "llama",  # InternLM2 and its reward models: Llama's keys plus ``bias`` (models/internlm2.py)
    "minicpm": "llama",  # MiniCPM and bge-reranker-v2-minicpm-layerwise: Llama's keys plus its multipliers (models/minicpm.py)
    "cost_wise_gemma": "gemma2",  # bge-reranker-v2.5-gemma2-lightweight: Gemma2's keys plus its layerwise heads (models/gemma2.py)
    "kimi_k2": "deepseek_v3",  # Kimi K2: DeepSeek-V3's config under its own name (models/deepseek.py)
}

# NATIVE_MODEL_TYPES whose remote config class defaults differ from transformers' type: the remote
# defaults, for keys a config.json leaves out (MiniCPM's config ties the LM head; Llama's does not).
REMOTE_CONFIG_DEFAULTS = {
    "minicpm": {"tie_word_embeddings": True, "scale_emb": 1, "scale_depth": 1, "dim_model_base": 1},
    "cost_wise_gemma": {"start_layer": 28, "layer_sep": 28, "layer_wise": False},
}

# auto_map's AutoConfig class (a config.json without model_type) -> transformers' model_type.
NATIVE_CONFIG_CLASSES = {
    "XLMRobertaFlashConfig": "xlm-roberta",  # jinaai/xlm-roberta-flash-implementation (jina-reranker-v2)
}

# Multimodal architecture -> the architecture of its language model.
MULTIMODAL_LANGUAGE_MODELS = {
    "Gemma3ForConditionalGeneration": "Gemma3ForCausalLM",
    "Gemma4ForConditionalGeneration": "Gemma4ForCausalLM",
    "Gemma4UnifiedForConditionalGeneration": "Gemma4UnifiedForCausalLM",  # Gemma 4 unified (google/gemma-4-12B)
    # Gemma 3n: on text its ids below vocab_size_per_layer_input (262,144); the image / audio tokens above are
    # embedded by its vision and audio embedders there, from the text table here.
    "Gemma3nForConditionalGeneration": "Gemma3nForCausalLM",
    "Llama4ForConditionalGeneration": "Llama4ForCausalLM",
    "Mistral3ForConditionalGeneration": "MistralForCausalLM",
    # M-RoPE: on text its three position components are equal, which is the text model's rotary.
    "Qwen2VLForConditionalGeneration": "Qwen2ForCausalLM",
    "Qwen2_5_VLForConditionalGeneration": "Qwen2ForCausalLM",
    "Qwen3VLForConditionalGeneration": "Qwen3ForCausalLM",
    "Qwen3VLMoeForConditionalGeneration": "Qwen3VLMoeTextForCausalLM",  # its experts stored 3-D (models/qwen_moe.py)
    "Qwen3_5ForConditionalGeneration": "Qwen3_5ForCausalLM",
    "Qwen3_5MoeForConditionalGeneration": "Qwen3_5MoeForCausalLM",
    "CohereCompassForConditionalGeneration": "CohereCompassForCausalLM",  # CohereLabs/North-*: M-RoPE as Qwen3-VL's
    # Vision-language models around a language model served here, whichever it is (their config's text_config
    # names it: LLaVA-1.5 / Pixtral a Llama or a Mistral, InternVL3 a Qwen2 or Qwen3, SmolVLM a Llama ...).
    "LlavaForConditionalGeneration": None,
    "LlavaNextForConditionalGeneration": None,
    "LlavaOnevisionForConditionalGeneration": None,
    "InternVLForConditionalGeneration": None,
    "Idefics3ForConditionalGeneration": None,
    "SmolVLMForConditionalGeneration": None,
    "AyaVisionForConditionalGeneration": None,
    "Lfm2VlForConditionalGeneration": None,
    "VipLlavaForConditionalGeneration": None,
    "VideoLlavaForConditionalGeneration": None,
    "LlavaNextVideoForConditionalGeneration": None,
    "GotOcr2ForConditionalGeneration": None,  # GOT-OCR 2.0, PP-Chart2Table: a Qwen2
    "Ovis2ForConditionalGeneration": None,
    "LightOnOcrForConditionalGeneration": None,
    "Idefics2ForConditionalGeneration": None,
    "JanusForConditionalGeneration": None,  # Janus(-Pro): a Llama
    "DeepseekVLForConditionalGeneration": None,  # DeepSeek-VL: a Llama
    "Lfm3VlForConditionalGeneration": None,
    "VideoLlama3ForConditionalGeneration": None,  # VideoLLaMA3: a Qwen2
    "HyperCLOVAXVisionV2ForConditionalGeneration": None,  # HyperCLOVA X SEED Vision / Omni
    "Exaone4_5_ForConditionalGeneration": "Exaone4ForCausalLM",  # EXAONE 4.5: EXAONE 4.0 on text (its MTP layer not read)
    "FuyuForCausalLM": "PersimmonForCausalLM",  # adept/fuyu-8b: image patches into Persimmon; on text, Persimmon
    # GLM-4.1V / 4.5V / 4.6V, GLM-OCR: GLM-4's layers (TEXT_MODEL_CAUSAL_LMS) with M-RoPE, one rotary on text.
    "Glm4vForConditionalGeneration": None,
    "Glm4vMoeForConditionalGeneration": None,
    "Glm46VForConditionalGeneration": None,
    "GlmOcrForConditionalGeneration": None,
    # Qwen2.5-Omni and Qwen3-Omni: the thinker (its language model: a Qwen2, a Qwen3-MoE) on text, M-RoPE one
    # rotary there; the whole model's talker and vocoder are not read.
    "Qwen2_5OmniThinkerForConditionalGeneration": "Qwen2ForCausalLM",
    "Qwen2_5OmniForConditionalGeneration": "Qwen2ForCausalLM",
    "Qwen2_5OmniModel": "Qwen2ForCausalLM",  # the whole model as Qwen/Qwen2.5-Omni-* name it
    "Qwen3OmniMoeThinkerForConditionalGeneration": "Qwen3MoeForCausalLM",
    "Qwen3OmniMoeForConditionalGeneration": "Qwen3MoeForCausalLM",
    "LlavaOnevision15ForConditionalGeneration": None,  # LLaVA-OneVision-1.5: a Qwen3
    "Ovis2_5ForConditionalGeneration": None,  # Ovis2.5: a Qwen3
    "QianfanOCRForConditionalGeneration": None,  # Qianfan-OCR: a Qwen3
    "DeepseekVLHybridForConditionalGeneration": None,  # DeepSeek-VL (hybrid towers): a Llama
    "MiniCPMV4_6ForConditionalGeneration": None,  # MiniCPM-V 4.6: a Qwen3.5
    "MiniCPMV4_7ForConditionalGeneration": None,
    "MiniCPMOcrForConditionalGeneration": None,
    "AriaForConditionalGeneration": "AriaTextForCausalLM",  # rhymes-ai/Aria
    "Cohere2VisionForConditionalGeneration": None,  # Command A Vision: a Command R7B (MULTIMODAL_TEXT_KEYS)
    "Emu3ForConditionalGeneration": None,  # Emu3: image tokens in its vocabulary, read by its language model
    "PaddleOCRVLForConditionalGeneration": None,  # PaddleOCR-VL: an ERNIE 4.5 (the half rotary)
    "DeepseekOcr2ForConditionalGeneration": None,  # DeepSeek-OCR 2: Llama's attention, V2's experts
    "UnlimitedOcrForConditionalGeneration": None,  # the same language model
    "Cosmos3EdgeForConditionalGeneration": None,  # NVIDIA Cosmos3 Edge: Llama's attention, a relu² MLP
    "HunYuanVLForConditionalGeneration": None,  # HunYuan-VL, HunyuanOCR: a HunYuan dense model, M-RoPE one rotary on text
    "GraniteDoclingForConditionalGeneration": None,  # granite-docling: Granite's layers (visual features added to some)
    "Granite4VisionForConditionalGeneration": None,  # Granite 4 Vision: the same
    # The bare multimodal models (no LM head): embedders, as the bare text models are.
    "Gemma3Model": "Gemma3TextModel",
    "Gemma4Model": "Gemma4TextModel",
    "Gemma3nModel": "Gemma3nTextModel",
    "Exaone4_5_Model": "Exaone4Model",
    "Mistral3Model": "MistralModel",
    "Qwen2VLModel": "Qwen2Model",
    "Qwen2_5_VLModel": "Qwen2Model",
    "Qwen3VLModel": "Qwen3Model",
    "Qwen3VLMoeModel": "Qwen3VLMoeTextModel",
    "Qwen3_5Model": "Qwen3_5TextModel",
    "Qwen3_5MoeModel": "Qwen3_5MoeTextModel",
    "CohereCompassModel": "CohereCompassTextModel",
    "EmbeddingGemma2Model": "EmbeddingGemma2TextModel",  # EmbeddingGemma 2: an embedder on text
    # Classifiers: transformers' multimodal one, and the names vLLM's docs give Qwen-VL rerankers
    # (``--hf-overrides '{"architectures": ["Qwen3VLForSequenceClassification"], "classifier_from_token": ...}'``).
    "Gemma3ForSequenceClassification": "Gemma3TextForSequenceClassification",
    "Qwen2VLForSequenceClassification": "Qwen2ForSequenceClassification",
    "Qwen2_5_VLForSequenceClassification": "Qwen2ForSequenceClassification",
    "Qwen3VLForSequenceClassification": "Qwen3ForSequenceClassification",
    # Vision-language encoders (ModernVBERT around ModernBERT, UltraVBert around Ultrabert: ``model.text_model.*``),
    # their heads as the text encoder's, the pooling (``classifier_pooling``) in the outer config.
    "ModernVBertModel": "ModernBertModel",
    "ModernVBertForSequenceClassification": "ModernBertForSequenceClassification",
    "ModernVBertForTokenClassification": "ModernBertForTokenClassification",
    "UltraVBertModel": "UltrabertModel",
    "UltraVBertForSequenceClassification": "UltrabertForSequenceClassification",
    "UltraVBertForTokenClassification": "UltrabertForTokenClassification",
    "JinaVLForRanking": "JinaVLForRanking",  # jina-reranker-m0 (Qwen2-VL): its text classifier keeps the name
    "JinaVLForSequenceClassification": "JinaVLForRanking",
}
# A text model_type that takes its family's place under a multimodal architecture (Mistral Small 4:
# Mistral3ForConditionalGeneration around a ``mistral4`` language model): (family prefix, its prefix).
TEXT_FAMILY_OF_MODEL_TYPE = {"mistral4": ("Mistral", "Mistral4")}
# Text model types that transformers has no causal LM for (only their multimodal model) -> the one served here,
# and what their text config implies that the served one's reads otherwise.
TEXT_MODEL_CAUSAL_LMS = {
    # GLM-4.1V-Thinking, GLM-4.6V-Flash: GLM-4-0414's sandwich layers, q/k/v always biased, M-RoPE over
    # interleaved pairs on ``partial_rotary_factor`` of each head (1.0 when its rope parameters name none).
    "glm4v_text": ("Glm4ForCausalLM", {"attention_bias": True}),
    "glm_ocr_text": ("Glm4ForCausalLM", {"attention_bias": False}),  # GLM-OCR: the same without the biases
    # GLM-4.5V, GLM-4.6V: GLM-4.5's MoE layers without q/k norms, M-RoPE on the first half of each head.
    "glm4v_moe_text": ("Glm4MoeForCausalLM", {}),
    # Granite's layers and multipliers; their DeepStack visual features, added after some layers, come with images.
    "granite_docling_text": ("GraniteForCausalLM", {}),
    "granite4_vision_text": ("GraniteForCausalLM", {}),
    "qwen3_omni_moe_text": ("Qwen3MoeForCausalLM", {"sliding_window": None}),  # its attention never slides
    "emu3_text_model": ("Emu3ForCausalLM", {}),
    "paddleocr_vl_text": ("PaddleOCRTextForCausalLM", {}),
    "deepseek_ocr2_text": ("DeepseekOcr2TextForCausalLM", {}),
    "unlimited_ocr_text": ("DeepseekOcr2TextForCausalLM", {}),
    "hunyuan_vl_text": ("HunYuanDenseV1ForCausalLM", {}),
    "cosmos3_edge_text": ("Cosmos3EdgeTextForCausalLM", {}),
}
# What a multimodal model computes of its language model otherwise than the language model's own class:
# Command A Vision's LM head is not multiplied by its text config's logit_scale (Command R7B's is).
MULTIMODAL_TEXT_KEYS = {"Cohere2VisionForConditionalGeneration": {"logit_scale": 1.0}}
# A classifier's labels, pooling and the weights' quantization live in the outer config: the text config takes them.
_OUTER_KEYS = ("id2label", "label2id", "problem_type", "quantization_config", "classifier_pooling")
# The language model's tensors in those checkpoints (as published, and as transformers 5 names its
# modules) -> the text model's names.
LANGUAGE_MODEL_PREFIXES = {  # the first a name starts with applies
    # Qianfan-OCR as transformers saves it (its vision tower's ``encoder.layers`` rename reversed on every name)
    "language_model.model.encoder.layers.": "model.layers.",
    "language_model.model.": "model.", "language_model.lm_head.": "lm_head.",
    "model.language_model.lm_head.": "lm_head.",  # HyperCLOVA X SEED Vision's
    "model.language_model.": "model.",
    "language_model.": "model.",  # a bare multimodal model's
    "model.text_model.": "model.",  # Idefics3's and SmolVLM's
    "thinker.model.": "model.", "thinker.lm_head.": "lm_head.",  # the Omni models' thinker
    "llm.model.": "model.", "llm.lm_head.": "lm_head.",  # Ovis2.5's
    "model.model.": "model.",  # LLaVA-OneVision-1.5's
    "text_model.model.": "model.", "text_model.lm_head.": "lm_head.",  # Emu3's
    "text_model.": "model.",  # a bare vision-language encoder's (ModernVBERT's, UltraVBert's)
}


def read_hf_config(path: str, trust_remote_code: bool = False):
    """The checkpoint's transformers config; a NATIVE_MODEL_TYPES one built from its keys as transformers' type."""
    from transformers import AutoConfig

    with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
        raw = json.load(f)
    native = NATIVE_MODEL_TYPES.get(raw.get("model_type")) if isinstance(raw, dict) else None
    if native is None and isinstance(raw, dict) and not raw.get("model_type"):
        config_class = str((raw.get("auto_map") or {}).get("AutoConfig", "")).rpartition(".")[2]
        native = NATIVE_CONFIG_CLASSES.get(config_class)
    if native is None:
        return AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    defaults = REMOTE_CONFIG_DEFAULTS.get(raw.get("model_type"), {})
    keys = {**defaults, **{k: v for k, v in raw.items() if k not in ("model_type", "auto_map")}}
    config = AutoConfig.for_model(native, **keys)
    for key, value in keys.items():  # what transformers moves elsewhere (``temperature``: a generation setting)
        if not hasattr(config, key):
            setattr(config, key, value)
    return config


def language_model_of(hf_config) -> tuple[object, dict[str, str]]:
    """-> (the config to serve, checkpoint name prefix -> ours): a MULTIMODAL_LANGUAGE_MODELS
    checkpoint's text config as its language model, anything else as it is."""
    architectures = getattr(hf_config, "architectures", None) or []
    if not architectures or architectures[0] not in MULTIMODAL_LANGUAGE_MODELS:
        return hf_config, {}
    text = hf_config.get_text_config()
    served = MULTIMODAL_LANGUAGE_MODELS[architectures[0]]
    if served is None:
        served = _causal_lm_of(architectures[0], getattr(text, "model_type", None))
    family = TEXT_FAMILY_OF_MODEL_TYPE.get(getattr(text, "model_type", None))
    if family is not None and served.startswith(family[0]):
        served = family[1] + served[len(family[0]):]
    text.architectures = [served]
    # transformers ties the LM head to the embeddings as the outer config says (the Omni models': their thinker's),
    # whatever the text one does.
    tied = getattr(getattr(hf_config, "thinker_config", None) or hf_config, "tie_word_embeddings", None)
    if tied is not None:
        text.tie_word_embeddings = tied
    for key in _OUTER_KEYS:
        if getattr(hf_config, key, None) is not None:
            setattr(text, key, getattr(hf_config, key))
    keys = {**TEXT_MODEL_CAUSAL_LMS.get(getattr(text, "model_type", None), (None, {}))[1],
            **MULTIMODAL_TEXT_KEYS.get(architectures[0], {})}
    for key, value in keys.items():
        setattr(text, key, value)
    return text, dict(LANGUAGE_MODEL_PREFIXES)


def _causal_lm_of(architecture: str, text_model_type) -> str:
    """The causal LM class transformers has for ``text_model_type``, where it is served here (ValueError if not)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    from multiscore.models.registry import supported_architectures

    served = MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.get(text_model_type) or TEXT_MODEL_CAUSAL_LMS.get(text_model_type, (None,))[0]
    if served not in supported_architectures():
        raise ValueError(f"{architecture} around a {text_model_type!r} language model is not supported: "
                         f"{served or 'its causal LM'} is not served here")
    return served


def text_architecture(architecture: str) -> str:
    """An architecture named by an override (after the checkpoint's config was read): a multimodal
    one as its language model's (vLLM's ``Qwen3VLForSequenceClassification`` -> ``Qwen3ForSequenceClassification``)."""
    return MULTIMODAL_LANGUAGE_MODELS.get(architecture) or architecture
