"""The tiny vision-language checkpoints of test_multimodal_language_models.py: per family, a builder of transformers'
multimodal model around a tiny language model (its vision tower tiny too), and the text classes it is served as."""

TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            head_dim=16, max_position_embeddings=4096, initializer_range=0.1)


def gemma3_vlm(vocab: int):
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    text = dict(TEXT, vocab_size=vocab, layer_types=["sliding_attention", "full_attention"], sliding_window=4,
                query_pre_attn_scalar=16, rope_parameters={
                    "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1e6},
                    "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}})
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=28,
                  patch_size=14)
    config = Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=4, image_token_index=vocab - 1,
                          boi_token_index=vocab - 3, eoi_token_index=vocab - 2)
    return Gemma3ForConditionalGeneration(config)


def _mistral3(vocab: int):
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration

    text = dict(TEXT, vocab_size=vocab, model_type="mistral", rope_parameters={"rope_type": "default", "rope_theta": 1e6})
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=28,
                  patch_size=14, head_dim=16, model_type="pixtral")
    config = Mistral3Config(text_config=text, vision_config=vision, image_token_index=vocab - 1,
                            spatial_merge_size=1, projector_hidden_act="gelu", tie_word_embeddings=False)
    return Mistral3ForConditionalGeneration(config)


def _mistral3_mistral4(vocab: int):
    """Mistral Small 4: Mistral 3's multimodal model around a ``mistral4`` language model (models/deepseek.py):
    latent attention, a dense layer then 4 experts (stored 3-D) beside a shared one, Llama 4's query
    temperature from position 8."""
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration

    text = dict(TEXT, vocab_size=vocab, model_type="mistral4", q_lora_rank=None, kv_lora_rank=16, qk_nope_head_dim=16,
                qk_rope_head_dim=8, v_head_dim=12, num_key_value_heads=4, n_routed_experts=4, num_experts_per_tok=2,
                n_group=2, topk_group=1, n_shared_experts=1, moe_intermediate_size=32, first_k_dense_replace=1,
                rope_parameters={"rope_type": "yarn", "rope_theta": 1e4, "factor": 512.0, "original_max_position_embeddings": 8,
                                 "beta_fast": 32.0, "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0,
                                 "llama_4_scaling_beta": 0.5, "partial_rotary_factor": 8 / 24})
    text.pop("head_dim")
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=28,
                  patch_size=14, head_dim=16, model_type="pixtral")
    config = Mistral3Config(text_config=text, vision_config=vision, image_token_index=vocab - 1,
                            spatial_merge_size=1, projector_hidden_act="gelu", tie_word_embeddings=False)
    return Mistral3ForConditionalGeneration(config)


def _llama4(vocab: int):
    """Llama 4: rotary layers and a NoPE one (the query temperature from position 2), experts in layers 1 and 3."""
    from transformers import Llama4Config, Llama4ForConditionalGeneration

    text = dict(TEXT, vocab_size=vocab, num_hidden_layers=4, intermediate_size=48, intermediate_size_mlp=96,
                num_local_experts=4, num_experts_per_tok=1, interleave_moe_layer_step=2, floor_scale=3, attn_scale=0.5)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=28,
                  patch_size=14, vision_output_dim=32, projector_input_dim=32, projector_output_dim=64, pixel_shuffle_ratio=0.5)
    config = Llama4Config(text_config=text, vision_config=vision, image_token_index=vocab - 1, tie_word_embeddings=False)
    return Llama4ForConditionalGeneration(config)


CLIP_VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=28, patch_size=14)
SMALL_VIT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
# Qwen3.5's text model (MiniCPM-V 4.6's): a delta-net layer, then an attention one
QWEN3_5_TEXT = dict(linear_num_key_heads=2, linear_num_value_heads=4, linear_key_head_dim=8, linear_value_head_dim=8,
                    layer_types=["linear_attention", "full_attention"])


def _vlm(family: str, text_type: str, vision=None, text_keys=None, **outer):
    """A vision-language model around the language model its text_config names (``text_type``, with ``text_keys``),
    built with transformers' defaults but for a tiny vision tower (``vision``: the family's own keys)."""
    def build(vocab: int):
        import transformers

        text = dict(TEXT, vocab_size=vocab, model_type=text_type, **(text_keys or {}))
        if text_type == "lfm3":  # its default special ids lie past a tiny vocabulary
            text.update(pad_token_id=0, bos_token_id=1, eos_token_id=2)
        if text_type == "cohere2":  # Command R7B's: a sliding layer, then a global one
            text.update(layer_types=["sliding_attention", "full_attention"], sliding_window=4)
        tower = {"InternVL": dict(CLIP_VISION, image_size=[28, 28], patch_size=[14, 14]),
                  "Lfm2Vl": dict(CLIP_VISION, model_type="siglip2_vision_model"),
                  "LlavaOnevision": dict(CLIP_VISION, model_type="siglip_vision_model"),
                  "AyaVision": dict(CLIP_VISION, model_type="siglip_vision_model"),
                  "GotOcr2": dict(CLIP_VISION, image_size=32, patch_size=16, output_channels=32),
                  "Ovis2": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2),
                  "DeepseekVL": dict(CLIP_VISION, model_type="siglip_vision_model"),
                  "Lfm3Vl": dict(CLIP_VISION, model_type="siglip2_vision_model"),
                  "VideoLlama3": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                      patch_size=14)}.get(family, CLIP_VISION) if vision is None else vision
        config = getattr(transformers, family + "Config")(text_config=text, vision_config=tower, **outer)
        return getattr(transformers, family + "ForConditionalGeneration")(config)
    return build


VLMS = {  # family -> (builder, the language model served)
    "llava": (_vlm("Llava", "llama", image_token_index=250), "Llama"),
    "llava_mistral": (_vlm("Llava", "mistral", image_token_index=250), "Mistral"),  # Pixtral-12B's layout
    "llava_next": (_vlm("LlavaNext", "llama", image_token_index=250), "Llama"),
    "llava_onevision": (_vlm("LlavaOnevision", "qwen2", image_token_index=250, video_token_index=251), "Qwen2"),
    "internvl": (_vlm("InternVL", "qwen3", image_token_id=250), "Qwen3"),
    "idefics3": (_vlm("Idefics3", "llama", image_token_id=250, scale_factor=1), "Llama"),
    "smolvlm": (_vlm("SmolVLM", "llama", image_token_id=250, scale_factor=1), "Llama"),
    "aya_vision": (_vlm("AyaVision", "cohere2", image_token_index=250, downsample_factor=1), "Cohere"),  # Cohere2 = Cohere here
    "lfm2_vl": (_vlm("Lfm2Vl", "lfm2", image_token_id=250, downsample_factor=1), "Lfm2"),
    "vipllava": (_vlm("VipLlava", "llama", image_token_index=250), "Llama"),
    "video_llava": (_vlm("VideoLlava", "llama", image_token_index=250, video_token_index=251), "Llama"),
    "llava_next_video": (_vlm("LlavaNextVideo", "llama", image_token_index=250, video_token_index=251), "Llama"),
    "got_ocr2": (_vlm("GotOcr2", "qwen2", image_token_index=250), "Qwen2"),
    "ovis2": (_vlm("Ovis2", "qwen2", image_token_id=250), "Qwen2"),
    "lighton_ocr": (_vlm("LightOnOcr", "qwen3", image_token_id=250), "Qwen3"),
    "idefics2": (_vlm("Idefics2", "mistral", image_token_id=250, perceiver_config=dict(
        hidden_act="silu", resampler_n_latents=4, resampler_depth=1, resampler_n_heads=2, resampler_head_dim=8,
        num_key_value_heads=1)), "Mistral"),
    "janus": (_vlm("Janus", "llama", image_token_id=250), "Llama"),
    "deepseek_vl": (_vlm("DeepseekVL", "llama", image_token_id=250), "Llama"),
    "lfm3_vl": (_vlm("Lfm3Vl", "lfm3", image_token_id=250, downsample_factor=1), "Lfm2"),  # LFM3: LFM2's classes
    "video_llama_3": (_vlm("VideoLlama3", "qwen2", image_token_id=250), "Qwen2"),
    # Command A Vision: its logits not multiplied by the text config's logit_scale (0.5 here), Command R7B's are
    "cohere2_vision": (_vlm("Cohere2Vision", "cohere2", image_token_id=250, downsample_factor=1,
                            vision=dict(CLIP_VISION, model_type="siglip_vision_model"), text_keys={"logit_scale": 0.5}),
                       "Cohere"),
    "llava_onevision1_5": (_vlm("LlavaOnevision15", "qwen3", image_token_id=250, vision=dict(
        depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64)), "Qwen3"),
    "ovis2_5": (_vlm("Ovis2_5", "qwen3", image_token_id=250, vision=dict(SMALL_VIT, vocab_size=64)), "Qwen3"),
    "qianfan_ocr": (_vlm("QianfanOCR", "qwen3", image_token_id=250, vision=dict(
        SMALL_VIT, image_size=28, patch_size=14)), "Qwen3"),
    "deepseek_vl_hybrid": (_vlm("DeepseekVLHybrid", "llama", image_token_id=250,
                                vision=dict(CLIP_VISION, model_type="siglip_vision_model")), "Llama"),
    **{family: (_vlm(name, "qwen3_5_text", vision=SMALL_VIT, text_keys=QWEN3_5_TEXT), "Qwen3_5")
       for family, name in (("minicpmv4_6", "MiniCPMV4_6"), ("minicpmv4_7", "MiniCPMV4_7"), ("minicpm_ocr", "MiniCPMOcr"))},
}


def qwen_vl(version: str):
    """Qwen2-VL, Qwen2.5-VL or Qwen3-VL: M-RoPE, whose three position components are equal on text."""
    def build(vocab: int):
        import transformers

        prefix = {"2": "Qwen2VL", "2.5": "Qwen2_5_VL", "3": "Qwen3VL", "3-moe": "Qwen3VLMoe"}[version]
        text = dict(TEXT, vocab_size=vocab, rms_norm_eps=1e-6, rope_parameters={
            "rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3],
            **({"mrope_interleaved": True} if version.startswith("3") else {})})
        if version == "3-moe":  # 4 experts of 48 (stored 3-D, no side square), 2 per token; layer 1 dense
            text.update(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=48, mlp_only_layers=[1])
        vision = dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, patch_size=14,
                      spatial_merge_size=2, temporal_patch_size=2)
        if version == "2":
            vision = dict(depth=1, embed_dim=32, hidden_size=64, mlp_ratio=2, num_heads=2, patch_size=14,
                          spatial_merge_size=2, temporal_patch_size=2)
        if version.startswith("3"):
            vision.update(num_position_embeddings=16, deepstack_visual_indexes=[0])
        config = getattr(transformers, prefix + "Config")(
            text_config=text, vision_config=vision, image_token_id=vocab - 1, video_token_id=vocab - 2,
            vision_start_token_id=vocab - 3, vision_end_token_id=vocab - 4, tie_word_embeddings=False)
        return getattr(transformers, prefix + "ForConditionalGeneration")(config)
    return build


def _cohere_compass(vocab: int):
    """CohereLabs/North-*: Command R7B's block with the half rotary per layer type, M-RoPE as Qwen3-VL's."""
    from transformers import CohereCompassConfig, CohereCompassForConditionalGeneration

    text = dict(TEXT, vocab_size=vocab, layer_types=["sliding_attention", "full_attention"], sliding_window=4,
                logit_scale=0.5, rope_parameters={
                    "sliding_attention": {"rope_type": "default", "rope_theta": 1e4, "mrope_section": [2, 3, 3]},
                    "full_attention": {"rope_type": "default", "rope_theta": 5e5, "mrope_section": [2, 3, 3]}})
    vision = dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=16, deepstack_visual_indexes=[0])
    config = CohereCompassConfig(text_config=text, vision_config=vision, image_token_id=vocab - 1,
                                 video_token_id=vocab - 2, vision_start_token_id=vocab - 3, vision_end_token_id=vocab - 4)
    return CohereCompassForConditionalGeneration(config)


def _hyperclovax_vision(vocab: int):
    """HyperCLOVA X SEED Vision: Qwen2.5-VL's vision tower before a HyperCLOVA X language model (Granite's
    multipliers, peri-layer norms, logits multiplied)."""
    from transformers import HyperCLOVAXVisionV2Config, HyperCLOVAXVisionV2ForConditionalGeneration

    text = dict(TEXT, vocab_size=vocab, model_type="hyperclovax", embedding_multiplier=3.0, residual_multiplier=0.5,
                logits_scaling=0.5, attention_multiplier=0.2)
    vision = dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2)
    config = HyperCLOVAXVisionV2Config(text_config=text, vision_config=vision, image_token_id=vocab - 1,
                                       video_token_id=vocab - 2, tie_word_embeddings=False)
    return HyperCLOVAXVisionV2ForConditionalGeneration(config)


def _exaone4_5(vocab: int):
    """EXAONE 4.5: Qwen2.5-VL's vision tower (grouped-query) before an EXAONE 4.0 language model (a sliding layer, then
    a global one without rotary)."""
    from transformers import Exaone4_5_Config, Exaone4_5_ForConditionalGeneration

    text = dict(TEXT, vocab_size=vocab, model_type="exaone4", sliding_window=4, tie_word_embeddings=False)
    vision = dict(depth=1, hidden_size=32, intermediate_size=48, num_heads=2, num_key_value_heads=1, out_hidden_size=64,
                  fullatt_block_indexes=[0])
    config = Exaone4_5_Config(text_config=text, vision_config=vision, tie_word_embeddings=False)
    return Exaone4_5_ForConditionalGeneration(config)


def _fuyu(vocab: int):
    """Fuyu-8B: image patches projected straight into a Persimmon language model (sequential NeoX layers with shared
    q/k LayerNorms, a squared-ReLU MLP)."""
    from transformers import FuyuConfig, FuyuForCausalLM

    text = dict(model_type="persimmon", vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=4, initializer_range=0.1)
    return FuyuForCausalLM(FuyuConfig(text_config=text, patch_size=4, num_channels=3, image_token_id=vocab - 1))


def _glm_vision(family: str, text_type: str, **text_keys):
    """GLM-4.1V (``glm4v``), GLM-4.5V (``glm4v_moe``), GLM-4.6V (``glm46v``) or GLM-OCR (``glm_ocr``): GLM-4's layers
    behind M-RoPE, on half of each head, whose three position components are equal on text."""
    def build(vocab: int):
        import transformers

        prefix = {"glm4v": "Glm4v", "glm4v_moe": "Glm4vMoe", "glm46v": "Glm46V", "glm_ocr": "GlmOcr"}[family]
        text = dict(TEXT, vocab_size=vocab, model_type=text_type, **text_keys, rope_parameters={
            "rope_type": "default", "rope_theta": 1e4, "partial_rotary_factor": 0.5, "mrope_section": [2, 1, 1]})
        vision = dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, patch_size=14,
                      image_size=28, spatial_merge_size=2, temporal_patch_size=2)
        config = getattr(transformers, prefix + "Config")(
            text_config=text, vision_config=vision, image_token_id=vocab - 1, video_token_id=vocab - 2,
            image_start_token_id=vocab - 3, image_end_token_id=vocab - 4, video_start_token_id=vocab - 5,
            video_end_token_id=vocab - 6, tie_word_embeddings=False)
        return getattr(transformers, prefix + "ForConditionalGeneration")(config)
    return build


GLM_MOE = dict(n_routed_experts=4, num_experts_per_tok=2, n_group=2, topk_group=1, n_shared_experts=1,
               moe_intermediate_size=32, first_k_dense_replace=1, norm_topk_prob=True, routed_scaling_factor=2.5)
GLM_VISION = {"glm4v": (_glm_vision("glm4v", "glm4v_text"), "Glm4"),
              "glm4v_moe": (_glm_vision("glm4v_moe", "glm4v_moe_text", **GLM_MOE), "Glm4Moe"),
              "glm46v": (_glm_vision("glm46v", "glm4v_text"), "Glm4"),
              "glm_ocr": (_glm_vision("glm_ocr", "glm_ocr_text"), "Glm4")}


def _emu3(vocab: int):
    """Emu3: a VQ-VAE's image tokens in the vocabulary of a Llama-like language model (``model.text_model.*``)."""
    from transformers import Emu3Config, Emu3ForConditionalGeneration

    vq = dict(codebook_size=32, embed_dim=32, latent_channels=32, base_channels=32, channel_multiplier=[1, 1],
              num_res_blocks=1, attn_resolutions=[], temporal_downsample_factor=1)
    config = Emu3Config(text_config=dict(TEXT, vocab_size=vocab, pad_token_id=0, bos_token_id=1, eos_token_id=2), vq_config=vq,
                        vocabulary_map={f"<|visual token {i:06d}|>": vocab - 32 + i for i in range(32)})
    return Emu3ForConditionalGeneration(config)

def _aria(vocab: int):
    """Aria: an Idefics3 vision tower and a cross-attention projector before Aria's language model (experts stored 3-D
    transposed beside shared experts)."""
    from transformers import AriaConfig, AriaForConditionalGeneration

    text = dict(TEXT, vocab_size=vocab, intermediate_size=32, moe_num_experts=4, moe_topk=2, moe_num_shared_experts=2,
                pad_token_id=0, bos_token_id=1, eos_token_id=2)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=28, patch_size=14)
    config = AriaConfig(text_config=text, vision_config=vision, projector_patch_to_query_dict={4: 2}, image_token_id=vocab - 1)
    return AriaForConditionalGeneration(config)

def _paddleocr_vl(vocab: int):
    """PaddleOCR-VL: a SigLIP-like tower before ERNIE 4.5's layers (biased here) with M-RoPE's plain rotary."""
    from transformers import PaddleOCRVLConfig, PaddleOCRVLForConditionalGeneration

    text = dict(TEXT, vocab_size=vocab, use_bias=True,
                rope_parameters={"rope_type": "default", "rope_theta": 1e4, "mrope_section": [2, 3, 3]})
    config = PaddleOCRVLConfig(text_config=text, vision_config=dict(SMALL_VIT, image_size=28, patch_size=14),
                               image_token_id=vocab - 1, video_token_id=vocab - 2, vision_start_token_id=vocab - 3,
                               vision_end_token_id=vocab - 4)
    return PaddleOCRVLForConditionalGeneration(config)


def _deepseek_ocr2(vocab: int, family: str = "DeepseekOcr2"):
    """DeepSeek-OCR 2 (and Unlimited OCR, ``family`` "UnlimitedOcr": a CLIP encoder instead of the Qwen2 one): SAM and
    an encoder before Llama's attention with V2's experts (softmax, never renormalised though the config asks: 4 of
    32, 2 per token, scaled, beside a shared one)."""
    import transformers

    text = dict(TEXT, vocab_size=vocab, num_key_value_heads=4, n_routed_experts=4, num_experts_per_tok=2,
                n_shared_experts=1, moe_intermediate_size=32, mlp_layer_types=["dense", "sparse"],
                routed_scaling_factor=2.0, norm_topk_prob=True)
    sam = dict(hidden_size=32, output_channels=32, num_hidden_layers=1, num_attention_heads=2, image_size=64,
               patch_size=16, global_attn_indexes=[0], window_size=2, downsample_channels=[32, 64])
    encoder = dict(vocab_size=64, hidden_size=64, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                   num_key_value_heads=2)
    if family == "UnlimitedOcr":
        sam.update(mlp_dim=64)
        encoder = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=28)
    config = getattr(transformers, family + "Config")(
        text_config=text, vision_config=dict(sam_config=sam, encoder_config=encoder), image_token_id=vocab - 1)
    return getattr(transformers, family + "ForConditionalGeneration")(config)

def _hunyuan_vl(vocab: int):
    """HunYuan-VL / HunyuanOCR: a ViT before HunYuan's dense layers (q/k normed after the rotary, its dynamic NTK alpha),
    M-RoPE one rotary on text."""
    from transformers import HunYuanVLConfig, HunYuanVLForConditionalGeneration

    text = dict(TEXT, vocab_size=vocab, rope_parameters={"rope_type": "dynamic", "rope_theta": 1e4, "alpha": 1000.0,
                                                         "factor": 1.0, "mrope_section": [2, 3, 3]})
    vision = dict(SMALL_VIT, out_hidden_size=64, patch_size=14)
    return HunYuanVLForConditionalGeneration(HunYuanVLConfig(text_config=text, vision_config=vision, image_token_id=vocab - 1))

def _cosmos3_edge(vocab: int):
    """Cosmos3 Edge: a SigLIP 2 tower before Llama's attention with an ungated relu² MLP (``fc1`` / ``fc2``), M-RoPE
    (interleaved) one rotary on text."""
    from transformers import Cosmos3EdgeConfig, Cosmos3EdgeForConditionalGeneration

    text = dict(TEXT, vocab_size=vocab, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3],
                                 "mrope_interleaved": True})
    config = Cosmos3EdgeConfig(text_config=text, vision_config=dict(SMALL_VIT, num_patches=16), projector_hidden_size=64,
                               image_token_id=vocab - 1, video_token_id=vocab - 2, vision_start_token_id=vocab - 3,
                               vision_end_token_id=vocab - 4)
    return Cosmos3EdgeForConditionalGeneration(config)

GRANITE_TEXT = dict(embedding_multiplier=3.0, residual_multiplier=0.5, logits_scaling=0.5, attention_multiplier=0.2)


def _granite_docling(vocab: int):
    """granite-docling: Idefics3's layout, its vision features added after its first Granite layer too (DeepStack)."""
    from transformers import GraniteDoclingConfig, GraniteDoclingForConditionalGeneration

    text = dict(TEXT, vocab_size=vocab, **GRANITE_TEXT, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32,
                  patch_size=8, out_hidden_size=64, scale_factor=2, deepstack_visual_indexes=[0])
    config = GraniteDoclingConfig(text_config=text, vision_config=vision, image_token_id=vocab - 1, pad_token_id=0,
                                  tie_word_embeddings=False)
    return GraniteDoclingForConditionalGeneration(config)


def _granite4_vision(vocab: int):
    """Granite 4 Vision: LLaVA-NeXT's layout around Granite, window Q-Former features added at some layers."""
    from transformers import Granite4VisionConfig, Granite4VisionForConditionalGeneration

    text = dict(TEXT, vocab_size=vocab, **GRANITE_TEXT)
    vision = dict(CLIP_VISION, hidden_size=64)  # its Q-Former takes the vision width, one head per 64
    config = Granite4VisionConfig(text_config=text, vision_config=vision, image_token_index=vocab - 1,
                                  deepstack_layer_map=[(0, 0), (0, 1)], spatial_target_layers=[0], downsample_rate="1/2",
                                  qformer_config=dict(num_hidden_layers=1, intermediate_size=64))
    return Granite4VisionForConditionalGeneration(config)


def _omni_thinker(version: str):
    """Qwen2.5-Omni's thinker (a Qwen2, sliding layers off) or Qwen3-Omni's (a Qwen3-MoE, its experts stored one
    by one) behind vision and audio towers, M-RoPE equal on text."""
    def build(vocab: int):
        import transformers

        prefix = {"2.5": "Qwen2_5Omni", "3": "Qwen3OmniMoe"}[version]
        text = dict(TEXT, vocab_size=vocab, rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3],
                                                            **({"mrope_interleaved": True} if version == "3" else {})})
        vision = dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64)
        audio = dict(num_mel_bins=16, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=32, d_model=32,
                     output_dim=64, max_source_positions=32, n_window=4)
        if version == "3":  # 4 experts of 32, 2 per token
            text.update(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, sliding_window=4)
            vision.update(num_position_embeddings=16, deepstack_visual_indexes=[0])
            audio.update(downsample_hidden_size=8)
        else:
            vision.update(fullatt_block_indexes=[0])
        ids = {"2.5": dict(image_token_index=vocab - 1, video_token_index=vocab - 2, audio_token_index=vocab - 3),
               "3": dict(image_token_id=vocab - 1, video_token_id=vocab - 2, audio_token_id=vocab - 3)}[version]
        config = getattr(transformers, prefix + "ThinkerConfig")(text_config=text, vision_config=vision, audio_config=audio, **ids)
        return getattr(transformers, prefix + "ThinkerForConditionalGeneration")(config)
    return build


BUILDERS = {**{family: build for family, (build, _) in {**VLMS, **GLM_VISION}.items()}, "gemma3": gemma3_vlm, "llama4": _llama4, "cohere_compass": _cohere_compass, "hyperclovax_vision": _hyperclovax_vision, "exaone4_5": _exaone4_5, "fuyu": _fuyu, "granite_docling": _granite_docling, "emu3": _emu3, "aria": _aria,
            "paddleocr_vl": _paddleocr_vl, "deepseek_ocr2": _deepseek_ocr2,
            "unlimited_ocr": lambda vocab: _deepseek_ocr2(vocab, "UnlimitedOcr"), "hunyuan_vl": _hunyuan_vl, "cosmos3_edge": _cosmos3_edge, "granite4_vision": _granite4_vision, "qwen2_5_omni": _omni_thinker("2.5"), "qwen3_omni": _omni_thinker("3"), "mistral3": _mistral3, "mistral3_mistral4": _mistral3_mistral4, "qwen2_vl": qwen_vl("2"), "qwen2_5_vl": qwen_vl("2.5"),
            "qwen3_vl": qwen_vl("3"), "qwen3_vl_moe": qwen_vl("3-moe")}
# The language model each is served as, and its sequence classifier (for the reranker conversion).
SERVED_AS = {"gemma3": ("Gemma3ForCausalLM", "Gemma3TextForSequenceClassification"),
             "llama4": ("Llama4ForCausalLM", "Llama4ForSequenceClassification"),
             "mistral3": ("MistralForCausalLM", "MistralForSequenceClassification"),
             "mistral3_mistral4": ("Mistral4ForCausalLM", "Mistral4ForSequenceClassification"),
             "qwen2_vl": ("Qwen2ForCausalLM", "Qwen2ForSequenceClassification"),
             "qwen2_5_vl": ("Qwen2ForCausalLM", "Qwen2ForSequenceClassification"),
             "qwen3_vl": ("Qwen3ForCausalLM", "Qwen3ForSequenceClassification"),
             "qwen3_vl_moe": ("Qwen3VLMoeTextForCausalLM", "Qwen3VLMoeTextForSequenceClassification"),
             "cohere_compass": ("CohereCompassForCausalLM", "CohereCompassTextForSequenceClassification"),
             "hyperclovax_vision": ("HyperCLOVAXForCausalLM", "HyperCLOVAXForSequenceClassification"),
             "exaone4_5": ("Exaone4ForCausalLM", "Exaone4ForSequenceClassification"),
             "fuyu": ("PersimmonForCausalLM", "PersimmonForSequenceClassification"),
             "granite_docling": ("GraniteForCausalLM", "GraniteForSequenceClassification"),
             "aria": ("AriaTextForCausalLM", "AriaTextForSequenceClassification"),
             "paddleocr_vl": ("PaddleOCRTextForCausalLM", "PaddleOCRTextForSequenceClassification"),
             "deepseek_ocr2": ("DeepseekOcr2TextForCausalLM", "DeepseekOcr2TextForSequenceClassification"),
             "unlimited_ocr": ("DeepseekOcr2TextForCausalLM", "DeepseekOcr2TextForSequenceClassification"),
             "hunyuan_vl": ("HunYuanDenseV1ForCausalLM", "HunYuanDenseV1ForSequenceClassification"),
             "cosmos3_edge": ("Cosmos3EdgeTextForCausalLM", "Cosmos3EdgeTextForSequenceClassification"),
             "emu3": ("LlamaForCausalLM", "LlamaForSequenceClassification"),  # Emu3ForCausalLM: a Llama here
             "granite4_vision": ("GraniteForCausalLM", "GraniteForSequenceClassification"),
             "qwen2_5_omni": ("Qwen2ForCausalLM", "Qwen2ForSequenceClassification"),
             "qwen3_omni": ("Qwen3MoeForCausalLM", "Qwen3MoeForSequenceClassification"),
             **{family: (lm + "ForCausalLM", lm + "ForSequenceClassification")
                for family, (_, lm) in {**VLMS, **GLM_VISION}.items()}}
