"""Architecture name (config.architectures[0]) -> model class, imported lazily."""

from __future__ import annotations

import importlib

from multiscore.models.registry_encoders import ENCODER_MODELS

# Decoders (and the hybrid and recurrent ones); the encoders' entries are in registry_encoders.py.
_MODELS = {
    "Qwen3ForCausalLM": "qwen3",
    "Qwen3ForSequenceClassification": "qwen3",
    "Qwen3ForTokenClassification": "qwen3",
    "Qwen2ForCausalLM": "qwen2",
    "Qwen2ForSequenceClassification": "qwen2",
    "Qwen2ForTokenClassification": "qwen2",
    "LlamaForCausalLM": "llama",
    "LlamaForSequenceClassification": "llama",
    "LlamaForTokenClassification": "llama",
    "BitNetForCausalLM": "bitnet",  # BitNet b1.58: ternary projections, 8-bit activations, sub-norms, a relu² gate
    "BitNetForSequenceClassification": "bitnet",
    "BitNetModel": "bitnet",
    "Qwen3Model": "qwen3",
    "VoyageQwen3BidirectionalEmbedModel": "voyage",  # voyage-4-nano: Qwen3 bidirectional, a projection per token
    "Qwen3_5ForCausalLM": "qwen3_5",  # Qwen3.5 (dense): linear-attention layers between attention layers
    "Qwen3_5ForSequenceClassification": "qwen3_5",
    "Qwen3_5TextForSequenceClassification": "qwen3_5",
    "Qwen3_5TextModel": "qwen3_5",
    "Qwen3_5MoeForCausalLM": "qwen3_5",  # Qwen3.5-MoE: every MLP sparse (sparse_moe.py)
    "Qwen3_5MoeTextModel": "qwen3_5",
    "Qwen3NextForCausalLM": "qwen3_5",  # Qwen3-Next: Qwen3.5's layers, projections fused per key head
    "Qwen3NextForSequenceClassification": "qwen3_5",
    "Qwen3NextForTokenClassification": "qwen3_5",
    "Qwen3NextModel": "qwen3_5",
    "AriaTextForCausalLM": "aria",  # Aria's language model: Llama's attention, experts beside shared ones in every layer
    "AriaTextForSequenceClassification": "aria",
    "AriaTextModel": "aria",
    "KimiLinearForCausalLM": "kimi_linear",  # Kimi Linear: delta attention with a decay per key dimension, NoPE MLA, experts
    "KimiLinearForSequenceClassification": "kimi_linear",
    "KimiLinearModel": "kimi_linear",
    "Qwen2Model": "qwen2",
    "Qwen2ForRewardModel": "qwen2_rm",  # Qwen2.5-Math-RM: an MLP reward head (remote code, config plain qwen2)
    "Qwen2ForProcessRewardModel": "qwen2_rm",  # Qwen2.5-Math-PRM: the same head, two labels per token
    "Llama4ForCausalLM": "llama4",  # Llama 4 Scout / Maverick: NoPE layers, input-scaled experts, chunked attention
    "Llama4ForSequenceClassification": "llama4",
    "Llama4TextModel": "llama4",
    "AfmoeForCausalLM": "afmoe",  # Arcee Trinity: sandwich norms, gated NoPE/sliding attention, sigmoid experts
    "AfmoeForSequenceClassification": "afmoe",
    "AfmoeModel": "afmoe",
    "PhimoeForCausalLM": "phimoe",  # Phi-3.5-MoE: Mixtral's block with LayerNorms, SparseMixer routing
    "PhimoeForSequenceClassification": "phimoe",
    "PhimoeModel": "phimoe",
    "BloomForCausalLM": "bloom",  # BLOOM, BLOOMZ: ALiBi, LayerNorms, q/k/v per head
    "BloomForSequenceClassification": "bloom",
    "BloomForTokenClassification": "bloom",
    "BloomModel": "bloom",
    "MptForCausalLM": "mpt",  # MPT-7B / 30B: ALiBi with its own slopes, bias-free LayerNorms and projections
    "MptForSequenceClassification": "mpt",
    "MptForTokenClassification": "mpt",
    "MptModel": "mpt",
    "FalconForCausalLM": "falcon",  # Falcon 7B / 40B / 180B / 11B: fused q/k/v per layout, parallel LayerNorm blocks
    "FalconForSequenceClassification": "falcon",
    "FalconForTokenClassification": "falcon",
    "FalconModel": "falcon",
    "GPT2LMHeadModel": "gpt2",  # learned absolute positions, LayerNorms, Conv1D projections
    "GPT2ForSequenceClassification": "gpt2",
    "GPT2ForTokenClassification": "gpt2",
    "GPT2Model": "gpt2",
    "GPTBigCodeForCausalLM": "gpt2",  # StarCoder, SantaCoder: GPT-2's body, nn.Linear projections, multi-query attention
    "GPTBigCodeForSequenceClassification": "gpt2",
    "GPTBigCodeForTokenClassification": "gpt2",
    "GPTBigCodeModel": "gpt2",
    "GPTNeoForCausalLM": "gpt2",  # GPT-Neo: GPT-2's body, unscaled scores, local layers with a window
    "GPTNeoForSequenceClassification": "gpt2",
    "GPTNeoForTokenClassification": "gpt2",
    "GPTNeoModel": "gpt2",
    "AXK2ForCausalLM": "axk2",  # SK Telecom A.X K2: DeepSeek-V3.2 with gated queries' outputs and gated norms
    "AXK2ForSequenceClassification": "axk2",
    "AXK2ForTokenClassification": "axk2",
    "AXK2Model": "axk2",
    "AXK1ForCausalLM": "axk1",  # SK Telecom A.X K1: DeepSeek-V3 with its MoE output RMS-normed
    "AXK1ForSequenceClassification": "axk1",
    "AXK1ForTokenClassification": "axk1",
    "AXK1Model": "axk1",
    "GPTJForCausalLM": "gptj",  # GPT-J-6B: parallel blocks, rotary on rotary_dim over pairs, a biased LM head
    "GPTJForSequenceClassification": "gptj",
    "GPTJModel": "gptj",
    "CodeGenForCausalLM": "gptj",  # Salesforce CodeGen: GPT-J's block, q/v/k fused in 4 blocks
    "CodeGenModel": "gptj",
    "PersimmonForCausalLM": "gpt_neox",  # Adept Persimmon (and Fuyu's text): NeoX with shared q/k LayerNorms, relu²
    "PersimmonForSequenceClassification": "gpt_neox",
    "PersimmonForTokenClassification": "gpt_neox",
    "PersimmonModel": "gpt_neox",
    "GPTNeoXJapaneseForCausalLM": "gpt_neox",  # ABEJA GPT-NeoX-Japanese: sequential NeoX layers, biases only after the last
    "GPTNeoXJapaneseForSequenceClassification": "gpt_neox",
    "GPTNeoXJapaneseModel": "gpt_neox",
    "GPTNeoXForCausalLM": "gpt_neox",  # Pythia: fused per-head q/k/v, partial rotary, parallel residual
    "GPTNeoXForSequenceClassification": "gpt_neox",
    "GPTNeoXForTokenClassification": "gpt_neox",
    "GPTNeoXModel": "gpt_neox",
    "BioGptForCausalLM": "opt",  # Microsoft BioGPT: OPT's pre-norm body, scaled embeddings, its own names
    "BioGptForSequenceClassification": "opt",
    "BioGptForTokenClassification": "opt",
    "BioGptModel": "opt",
    "XGLMForCausalLM": "opt",  # Meta XGLM: OPT's pre-norm body, scaled embeddings, sinusoidal positions
    "XGLMForSequenceClassification": "opt",
    "XGLMModel": "opt",
    "CTRLLMHeadModel": "ctrl",  # Salesforce CTRL: pre-norm, scaled embeddings, sinusoidal positions, biased tied LM head
    "CTRLForSequenceClassification": "ctrl",
    "CTRLModel": "ctrl",
    "OpenAIGPTLMHeadModel": "openai_gpt",  # GPT-1: GPT-2's attention in post-norm blocks
    "OpenAIGPTForSequenceClassification": "openai_gpt",
    "OpenAIGPTModel": "openai_gpt",
    "OPTForCausalLM": "opt",  # learned positions (offset 2), pre- or post-norm LayerNorms, ReLU MLPs
    "OPTForSequenceClassification": "opt",
    "OPTModel": "opt",
    "MixtralForCausalLM": "mistral",  # Mistral's attention, sparse mixture-of-experts MLPs
    "MixtralForSequenceClassification": "mistral",
    "MixtralForTokenClassification": "mistral",
    "MixtralModel": "mistral",
    "MiniCPMForCausalLM": "minicpm",  # remote code read as Llama: embedding, residual and logit multipliers
    "MiniCPMForSequenceClassification": "minicpm",  # ours, for classifier_from_token
    "MiniCPMModel": "minicpm",
    "LayerWiseMiniCPMForCausalLM": "minicpm",
    "NanoChatForCausalLM": "nanochat",  # nanochat: weightless norms, q/k normed after rotary, a relu² MLP, soft-capped logits
    "NanoChatForSequenceClassification": "nanochat",
    "NanoChatModel": "nanochat",
    "MiMoV2FlashForCausalLM": "mimo_v2",  # Xiaomi MiMo-V2-Flash: narrower values, sinks and 2x kv heads on sliding layers
    "MiMoV2FlashForSequenceClassification": "mimo_v2",
    "MiMoV2FlashModel": "mimo_v2",
    "MiniCPM5MoeForCausalLM": "minicpm5",  # MiniCPM 5 MoE: Llama attention gated per dim from q_proj, DeepSeek-V3 experts
    "MiniCPM5MoEForCausalLM": "minicpm5",  # its earlier name
    "MiniCPM5MoeForSequenceClassification": "minicpm5",
    "MiniCPM5MoeModel": "minicpm5",
    "MiniCPM3ForCausalLM": "minicpm3",  # MiniCPM's multipliers on multi-head latent attention (MLA)
    "MiniCPM3ForSequenceClassification": "minicpm3",
    "MiniCPM3Model": "minicpm3",
    # Multi-head latent attention and DeepSeek's experts (dense first layers, shared experts, grouped routing)
    "DeepseekV2ForCausalLM": "deepseek",  # DeepSeek-V2 / V2-Lite / V2.5: softmax routing
    "DeepseekV2ForSequenceClassification": "deepseek",
    "DeepseekV2Model": "deepseek",
    "DeepseekV3ForCausalLM": "deepseek",  # DeepSeek-V3 / R1, Kimi K2, Moonlight: sigmoid routing with a bias
    "DeepseekV3ForSequenceClassification": "deepseek",
    "DeepseekV3ForTokenClassification": "deepseek",
    "DeepseekV3Model": "deepseek",
    "DeepseekOcr2TextForCausalLM": "deepseek",  # DeepSeek-OCR 2's language model: Llama's attention, V2's experts
    "DeepseekOcr2TextForSequenceClassification": "deepseek",
    "Glm4MoeLiteForCausalLM": "deepseek",  # GLM-4.7-Flash: V3's blocks
    "Glm4MoeLiteForSequenceClassification": "deepseek",
    "Glm4MoeLiteModel": "deepseek",
    "YoutuForCausalLM": "deepseek",  # tencent/Youtu-LLM: V3's latent attention, dense MLPs
    "YoutuForSequenceClassification": "deepseek",
    "YoutuModel": "deepseek",
    "DeepseekV32ForCausalLM": "deepseek",  # DeepSeek-V3.2: V3 plus sparse attention, dense below index_topk keys
    "DeepseekV32ForSequenceClassification": "deepseek",
    "DeepseekV32Model": "deepseek",
    "GlmMoeDsaForCausalLM": "deepseek",  # GLM-5: the same, its indexer top-k shared across layers
    "GlmMoeDsaForSequenceClassification": "deepseek",
    "GlmMoeDsaModel": "deepseek",
    "Mistral4ForCausalLM": "deepseek",  # Mistral Small 4: V3's blocks, softmax routing, Llama 4's query temperature
    "Mistral4ForSequenceClassification": "deepseek",
    "Mistral4ForTokenClassification": "deepseek",
    "Mistral4Model": "deepseek",
    "Glm4MoeForCausalLM": "glm",  # GLM-4.5 / 4.6 / 4.7, GLM-4.5-Air: GQA with q/k norms, DeepSeek-V3's experts
    "Glm4MoeForSequenceClassification": "glm",
    "Glm4MoeModel": "glm",
    "Dots1ForCausalLM": "deepseek",  # dots.llm1: Qwen3's attention, DeepSeek-V3's experts
    "Dots1ForSequenceClassification": "deepseek",
    "Dots1Model": "deepseek",
    "SolarOpenForCausalLM": "deepseek",  # Solar Open: Llama's attention, DeepSeek-V3's experts in every layer
    "SolarOpenForSequenceClassification": "deepseek",
    "SolarOpenModel": "deepseek",
    "MiniMaxForCausalLM": "minimax",  # MiniMax-Text-01 / M1: lightning (linear) attention between Mixtral's layers
    "MiniMaxForSequenceClassification": "minimax",
    "MiniMaxModel": "minimax",
    "MiniMaxM2ForCausalLM": "minimax_m2",  # MiniMax-M2: Mixtral's layout, q/k norms across heads, a biased sigmoid router
    "MiniMaxM2ForSequenceClassification": "minimax_m2",
    "MiniMaxM2Model": "minimax_m2",
    "HeliumForCausalLM": "helium_exaone",  # Helium: Llama's block, interleaved-pair rotary
    "HeliumForSequenceClassification": "helium_exaone",
    "HeliumForTokenClassification": "helium_exaone",
    "HeliumModel": "helium_exaone",
    "ExaoneForCausalLM": "helium_exaone",  # EXAONE 3.x: Llama's block under GPT-2-style names
    "ExaoneForSequenceClassification": "helium_exaone",
    "ExaoneModel": "helium_exaone",
    "HunYuanMoEV1ForCausalLM": "hunyuan",  # Hunyuan-A13B: HunYuan's attention, experts beside a shared MLP
    "HunYuanMoEV1ForSequenceClassification": "hunyuan",
    "HunYuanMoEV1Model": "hunyuan",
    "OlmoeForCausalLM": "olmo2",  # OLMoE: q/k norms across heads, every MLP experts (softmax router)
    "OlmoeForSequenceClassification": "olmo2",
    "OlmoeModel": "olmo2",
    "FlexOlmoForCausalLM": "olmo2",  # OLMo 2's block, OLMoE's experts
    "FlexOlmoForSequenceClassification": "olmo2",
    "FlexOlmoModel": "olmo2",
    "StableLmForCausalLM": "layernorm_decoders",  # StableLM 2: biased LayerNorms, partial rotary, sequential or parallel blocks
    "StableLmForSequenceClassification": "layernorm_decoders",
    "StableLmForTokenClassification": "layernorm_decoders",
    "StableLmModel": "layernorm_decoders",
    "Starcoder2ForCausalLM": "layernorm_decoders",  # StarCoder2: biased LayerNorms and projections, a plain GELU MLP, sliding window
    "Starcoder2ForSequenceClassification": "layernorm_decoders",
    "Starcoder2ForTokenClassification": "layernorm_decoders",
    "Starcoder2Model": "layernorm_decoders",
    "NemotronForCausalLM": "layernorm_decoders",  # Nemotron / Minitron: 1 + w LayerNorms, squared-ReLU MLP, half rotary
    "NemotronForSequenceClassification": "layernorm_decoders",
    "NemotronForTokenClassification": "layernorm_decoders",
    "NemotronModel": "layernorm_decoders",
    "Jais2ForCausalLM": "layernorm_decoders",  # inceptionai/Jais-2: biased Llama attention, squared-ReLU MLP, LayerNorms
    "Jais2ForSequenceClassification": "layernorm_decoders",
    "Jais2Model": "layernorm_decoders",
    "OlmoHybridForCausalLM": "olmo_hybrid",  # AllenAI OLMo Hybrid: gated delta nets and OLMo 3 attention layers
    "OlmoHybridForSequenceClassification": "olmo_hybrid",
    "OlmoHybridModel": "olmo_hybrid",
    "OlmoForCausalLM": "layernorm_decoders",  # OLMo (v1): Llama's block with weightless LayerNorms
    "OlmoForSequenceClassification": "layernorm_decoders",
    "OlmoModel": "layernorm_decoders",  # bge-reranker-v2-minicpm-layerwise: a score head per layer, one cut
    "InternLM2ForCausalLM": "internlm2",  # remote code read as Llama: q/k/v stacked per kv head
    "InternLM2ForRewardModel": "internlm2",
    "InternLM2Model": "internlm2",
    "JinaVLForRanking": "jina_reranker_m0",  # jina-reranker-m0 on text: Qwen2-VL's language model, an MLP score
    "JinaVLForSequenceClassification": "jina_reranker_m0",  # vLLM's name for it
    "HYV3ForCausalLM": "hunyuan",  # Tencent Hy3: q/k-normed attention, a dense first layer, DeepSeek-V3's experts
    "HYV3ForSequenceClassification": "hunyuan",
    "HYV3Model": "hunyuan",
    "Kolibri1ForCausalLM": "kolibri",  # Aleph Alpha's Kolibri-1: EXAONE 4.0's attention, GLM-4's norms, experts
    "Kolibri1ForSequenceClassification": "kolibri",
    "Kolibri1Model": "kolibri",
    "ExaoneMoeForCausalLM": "exaone4",  # K-EXAONE: EXAONE 4.0's attention, pre-norm, DeepSeek-V3's experts
    "ExaoneMoeForSequenceClassification": "exaone4",
    "ExaoneMoeModel": "exaone4",
    "Exaone4ForCausalLM": "exaone4",  # post-norm blocks, per-head q/k norms, NoPE global layers
    "Exaone4ForSequenceClassification": "exaone4",
    "Exaone4ForTokenClassification": "exaone4",
    "Exaone4Model": "exaone4",
    "CohereForCausalLM": "cohere",  # Aya / Command R: parallel blocks, LayerNorms, interleaved rotary, logit_scale
    "CohereForSequenceClassification": "cohere",
    "CohereModel": "cohere",
    "Cohere2MoeForCausalLM": "cohere2_moe",  # Command A+: Command R7B's block, a dense prefix, experts
    "Cohere2MoeForSequenceClassification": "cohere2_moe",
    "Cohere2MoeModel": "cohere2_moe",
    "Cohere2ForCausalLM": "cohere",  # Command R7B: sliding layers, NoPE global ones
    "Cohere2ForSequenceClassification": "cohere",
    "Cohere2Model": "cohere",
    "CohereCompassForCausalLM": "cohere_compass",  # Command R7B's block, half rotary per layer type (or none)
    "CohereCompassTextForSequenceClassification": "cohere_compass",
    "CohereCompassTextModel": "cohere_compass",
    "PaddleOCRTextForCausalLM": "ernie4_5",  # PaddleOCR-VL's language model: ERNIE 4.5's block, the half rotary
    "PaddleOCRTextForSequenceClassification": "ernie4_5",
    "Ernie4_5ForCausalLM": "ernie4_5",  # Llama's block, biases by use_bias, interleaved-pair rotary
    "Ernie4_5ForSequenceClassification": "ernie4_5",
    "Ernie4_5Model": "ernie4_5",
    "Ernie4_5_MoeForCausalLM": "ernie4_5",  # the same blocks with experts (a bias-corrected softmax choice, shared experts)
    "Ernie4_5_MoeForSequenceClassification": "ernie4_5",
    "Ernie4_5_MoeModel": "ernie4_5",
    "GlmForCausalLM": "glm",  # GLM-4: biased q/k/v, interleaved-pair rotary on half of each head
    "GlmForSequenceClassification": "glm",
    "GlmForTokenClassification": "glm",
    "GlmModel": "glm",
    "Glm4ForCausalLM": "glm",  # GLM-4-0414: the same with sandwich norms
    "Glm4ForSequenceClassification": "glm",
    "Glm4ForTokenClassification": "glm",
    "Glm4Model": "glm",
    "GraniteMoeForCausalLM": "granite",  # Granite 3.x MoE: Granite's multipliers, Granite 4.0's experts
    "GraniteMoeForSequenceClassification": "granite",
    "GraniteMoeModel": "granite",
    "GraniteMoeSharedForCausalLM": "granite",  # Granite MoE with a shared MLP beside the experts
    "GraniteMoeSharedForSequenceClassification": "granite",
    "GraniteMoeSharedModel": "granite",
    "PhiForCausalLM": "phi",  # phi-1/1.5/2: parallel biased-LayerNorm blocks, partial rotary, a biased LM head
    "PhiForSequenceClassification": "phi",
    "PhiForTokenClassification": "phi",
    "PhiModel": "phi",
    "Olmo2ForCausalLM": "olmo2",  # norms on the attention and MLP outputs, q/k norms across heads
    "Olmo2ForSequenceClassification": "olmo2",
    "Olmo2Model": "olmo2",
    "Olmo3ForCausalLM": "olmo2",  # OLMo 2's block, sliding layers with their own rotary
    "Olmo3ForSequenceClassification": "olmo2",
    "Olmo3Model": "olmo2",
    "SmolLM3ForCausalLM": "smollm3",  # Llama's block, every 4th layer without rotary (NoPE)
    "SmolLM3ForSequenceClassification": "smollm3",
    "SmolLM3ForTokenClassification": "smollm3",
    "SmolLM3Model": "smollm3",
    "Lfm2ForCausalLM": "lfm2",  # gated short-convolution layers between attention layers
    "Lfm2ForSequenceClassification": "lfm2",
    "Lfm2Model": "lfm2",
    "Lfm3ForCausalLM": "lfm2",  # LFM2's layers with sliding attention, head gates and sandwich norms
    "Lfm3ForSequenceClassification": "lfm2",
    "Lfm3Model": "lfm2",
    "Lfm2MoeForCausalLM": "lfm2",  # LFM2's layers, sparse MLPs past num_dense_layers
    "Lfm2MoeForSequenceClassification": "lfm2",
    "Lfm2MoeModel": "lfm2",
    "GptOssForCausalLM": "gpt_oss",  # sink logits, alternating sliding layers, clamped-SwiGLU experts (MXFP4 on the hub)
    "GptOssForSequenceClassification": "gpt_oss",
    "GptOssForTokenClassification": "gpt_oss",
    "GptOssModel": "gpt_oss",
    "OpenAIPrivacyFilterForTokenClassification": "openai_privacy_filter",  # a PII tagger: GPT-OSS's blocks, bidirectional
    "MambaForCausalLM": "mamba",  # Mamba (v1) layers only (mamba1.py)
    "MambaForSequenceClassification": "mamba",  # ours, for classifier_from_token
    "MambaModel": "mamba",
    "FalconMambaForCausalLM": "mamba",  # the same, unit RMSNorms on the mixer's dt, B and C
    "FalconMambaForSequenceClassification": "mamba",
    "FalconMambaModel": "mamba",
    "BambaForCausalLM": "bamba",  # Jamba's layer layout with Mamba2 mixers and rotary attention
    "BambaForSequenceClassification": "bamba",  # ours, for classifier_from_token
    "BambaModel": "bamba",
    "Zamba2ForCausalLM": "zamba2",  # Mamba2 layers, shared attention blocks with per-layer adapters
    "Zamba2ForSequenceClassification": "zamba2",
    "Zamba2Model": "zamba2",
    "Mamba2ForCausalLM": "mamba",  # Mamba2 layers only (mamba2.py)
    "Mamba2ForSequenceClassification": "mamba",  # ours, for classifier_from_token
    "Mamba2Model": "mamba",
    "FalconH1ForCausalLM": "falcon_h1",  # Mamba2 and attention side by side in every layer, muP multipliers
    "FalconH1ForSequenceClassification": "falcon_h1",  # ours, for classifier_from_token
    "FalconH1Model": "falcon_h1",
    "JambaForSequenceClassification": "jamba",  # Mamba (v1) and attention layers without positions, experts
    "JambaForCausalLM": "jamba",
    "JambaModel": "jamba",
    "DbrxForCausalLM": "dbrx",  # Databricks DBRX: bias-free LayerNorms, clamped fused qkv, experts as [E·I, H] tensors
    "DbrxForSequenceClassification": "dbrx",
    "DbrxModel": "dbrx",
    "DiffLlamaForCausalLM": "diffllama",  # differential attention on Llama's block
    "DiffLlamaForSequenceClassification": "diffllama",
    "DiffLlamaForTokenClassification": "diffllama",
    "DiffLlamaModel": "diffllama",
    "BeamForCausalLM": "beam",  # Reflection Beam: gated Qwen3 attention, NoPE full layers, depth-scaled sandwich norms, DeepSeek routing
    "BeamForSequenceClassification": "beam",
    "BeamForTokenClassification": "beam",
    "BeamModel": "beam",
    "Gemma3nForCausalLM": "gemma3n",  # Gemma 3n E2B / E4B on text: AltUp streams, Laurel, sparse MLPs, Gemma 4's attention and PLE
    "Gemma3nForSequenceClassification": "gemma3n",
    "Gemma3nTextModel": "gemma3n",
    "DoryForCausalLM": "dory",  # NVIDIA Dory: a looped nGPT (unit-sphere states, interpolated residuals)
    "DoryModel": "dory",
    "ErgoForCausalLM": "ergo",  # Amazon Ergo: float32 residual with gated adds, NoPE global layers, normed relu² experts
    "ErgoForSequenceClassification": "ergo",
    "ErgoModel": "ergo",
    "FlintForCausalLM": "flint",  # Flint: Qwen3-MoE with sinks, NoPE full layers, a sigmoid router, an ungated shared expert
    "FlintForSequenceClassification": "flint",
    "FlintModel": "flint",
    "JetMoeForCausalLM": "jetmoe",  # JetMoE: a mixture of attention experts (queries and outputs) and of MLP experts
    "JetMoeForSequenceClassification": "jetmoe",
    "JetMoeModel": "jetmoe",
    "LagunaForCausalLM": "laguna",  # Laguna: softplus output gates, heads per layer, a rotary per layer type, biased sigmoid experts
    "LagunaForSequenceClassification": "laguna",
    "LagunaModel": "laguna",
    "LaraMiniForCausalLM": "lara_mini",  # translated Lara Mini: Qwen3.5's delta nets with Qwen3 attention, NoPE full layers
    "LaraMiniForSequenceClassification": "lara_mini",
    "LaraMiniModel": "lara_mini",
    "LongcatFlashForCausalLM": "longcat_flash",  # Meituan LongCat-Flash: two MLA sublayers a layer, shortcut experts with identity ones
    "LongcatFlashForSequenceClassification": "longcat_flash",
    "LongcatFlashModel": "longcat_flash",
    "MellumForCausalLM": "qwen_moe",  # JetBrains Mellum 2: Qwen3-MoE with sliding layers and dense ones by mlp_layer_types
    "MellumForSequenceClassification": "qwen_moe",
    "MellumModel": "qwen_moe",
    "Qwen3MoeForCausalLM": "qwen_moe",  # Qwen2/Qwen3 blocks with sparse mixture-of-experts MLPs
    "Qwen3MoeForSequenceClassification": "qwen_moe",
    "Qwen3MoeForTokenClassification": "qwen_moe",
    "Qwen3MoeModel": "qwen_moe",
    "Qwen3VLMoeTextForCausalLM": "qwen_moe",  # Qwen3-VL-MoE's language model: experts stored 3-D
    "Qwen3VLMoeTextForSequenceClassification": "qwen_moe",
    "Qwen3VLMoeTextModel": "qwen_moe",
    "Qwen2MoeForCausalLM": "qwen_moe",
    "Qwen2MoeForSequenceClassification": "qwen_moe",
    "Qwen2MoeForTokenClassification": "qwen_moe",
    "Qwen2MoeModel": "qwen_moe",
    "LlamaModel": "llama",
    "Emu3ForCausalLM": "llama",  # Emu3's text model: Llama's block
    "CwmForCausalLM": "llama",  # facebook/cwm: Llama's block, three sliding layers in four
    "CwmForSequenceClassification": "llama",
    "CwmModel": "llama",
    "SeedOssForCausalLM": "seed_oss",  # Seed-OSS: Llama's block, q/k/v and o biases apart
    "SeedOssForSequenceClassification": "seed_oss",
    "SeedOssForTokenClassification": "seed_oss",
    "SeedOssModel": "seed_oss",
    "Cosmos3EdgeTextForCausalLM": "arcee",  # Cosmos3 Edge's language model: Arcee's block, its MLP as fc1 / fc2
    "Cosmos3EdgeTextForSequenceClassification": "arcee",
    "ArceeForCausalLM": "arcee",  # AFM: Llama's block with an ungated squared-ReLU MLP
    "ArceeForSequenceClassification": "arcee",
    "ArceeForTokenClassification": "arcee",
    "ArceeModel": "arcee",
    "HunYuanDenseV1ForCausalLM": "hunyuan",  # Llama's block, q/k norms after rotary, NTK-alpha rotary
    "HunYuanDenseV1ForSequenceClassification": "hunyuan",
    "HunYuanDenseV1Model": "hunyuan",
    "ApertusForCausalLM": "apertus",  # Llama's block, per-head q/k norms, an ungated xIELU MLP
    "ApertusForSequenceClassification": "apertus",
    "ApertusForTokenClassification": "apertus",
    "ApertusModel": "apertus",
    "Apertus1p5TextForCausalLM": "apertus",  # Apertus 1.5: Apertus's blocks, an LM head of output_vocab_size rows
    "Apertus1p5TextForSequenceClassification": "apertus",
    "Apertus1p5TextModel": "apertus",
    "GemmaForCausalLM": "gemma",
    "GemmaForSequenceClassification": "gemma",
    "GemmaForTokenClassification": "gemma",
    "GemmaModel": "gemma",
    "VaultGemmaForCausalLM": "gemma2",  # google/vaultgemma-1b: Gemma2's block without its post-norms
    "VaultGemmaForSequenceClassification": "gemma2",
    "VaultGemmaModel": "gemma2",
    "Gemma2ForCausalLM": "gemma2",
    "Gemma2ForSequenceClassification": "gemma2",
    "Gemma2ForTokenClassification": "gemma2",
    "Gemma2Model": "gemma2",
    "CostWiseGemmaForCausalLM": "gemma2",  # bge-reranker-v2.5-gemma2-lightweight: a score head per layer, one cut
    "Gemma3ForCausalLM": "gemma3",
    "Gemma3TextForSequenceClassification": "gemma3",
    "Gemma3TextModel": "gemma3",
    "Gemma4ForCausalLM": "gemma4",
    "Gemma4ForSequenceClassification": "gemma4",  # ours (transformers has none): classifier_from_token's target
    "Gemma4TextModel": "gemma4",
    "Gemma4UnifiedForCausalLM": "gemma4",  # Gemma 4 unified (12B): Gemma 4's layers without PLE or experts
    "Gemma4UnifiedForSequenceClassification": "gemma4",
    "Gemma4UnifiedTextModel": "gemma4",
    "EmbeddingGemma2TextModel": "embedding_gemma2",  # Gemma 4's layers as an encoder, PLE from the projection alone
    "MistralForCausalLM": "mistral",
    "MistralForSequenceClassification": "mistral",
    "MistralForTokenClassification": "mistral",
    "MistralModel": "mistral",
    "MinistralForCausalLM": "mistral",  # Ministral 8B (2024) and Ministral 3: Mistral's block (mistral.py)
    "MinistralForSequenceClassification": "mistral",
    "MinistralForTokenClassification": "mistral",
    "MinistralModel": "mistral",
    "Ministral3ForCausalLM": "mistral",
    "Ministral3ForSequenceClassification": "mistral",
    "Ministral3ForTokenClassification": "mistral",
    "Ministral3Model": "mistral",
    "HYV4ForCausalLM": "hy_v4",  # Tencent Hy4: hyper-connection streams, latent attention with sinks and gates (below DSA's top-k)
    "HYV4ForSequenceClassification": "hy_v4",
    "HYV4Model": "hy_v4",
    "HyperCLOVAXForCausalLM": "granite",  # Naver HyperCLOVA X SEED: Granite with peri-layer norms, logits multiplied
    "HyperCLOVAXForSequenceClassification": "granite",
    "HyperCLOVAXModel": "granite",
    "GraniteSWAForCausalLM": "granite_swa",  # IBM granite-swash: Granite with sliding layers, sinks, a rotary base per layer
    "GraniteSWAForSequenceClassification": "granite_swa",
    "GraniteSWAModel": "granite_swa",
    "GraniteMoeSWAForCausalLM": "granite_swa",
    "GraniteMoeSWAForSequenceClassification": "granite_swa",
    "GraniteMoeSWAModel": "granite_swa",
    "GraniteForCausalLM": "granite",
    "GraniteForSequenceClassification": "granite",  # ours (transformers has none): classifier_from_token's target
    "GraniteModel": "granite",
    "GraniteMoeHybridForCausalLM": "granite_hybrid",  # Granite 4.0: Mamba2 and attention layers, experts
    "GraniteMoeHybridForSequenceClassification": "granite_hybrid",  # ours, for classifier_from_token
    "GraniteMoeHybridModel": "granite_hybrid",
    "NemotronHForCausalLM": "nemotron_h",  # Mamba2, attention and MLP blocks
    "NemotronHForSequenceClassification": "nemotron_h",  # ours, for classifier_from_token
    "NemotronHModel": "nemotron_h",
    "ModernBertDecoderForCausalLM": "modernbert_decoder",  # the Ettin decoders: ModernBERT's layers, causal
    "ModernBertDecoderForSequenceClassification": "modernbert_decoder",
    "ModernBertDecoderModel": "modernbert_decoder",
    "Phi3ForCausalLM": "phi3",
    "Phi3ForSequenceClassification": "phi3",
    "Phi3ForTokenClassification": "phi3",
    "Phi3Model": "phi3",
    "JinaForRanking": "jina_reranker_v3",  # jina-reranker-v3 (remote code over Qwen3): listwise, read without it
    "LlamaBidirectionalModel": "llama_bidirectional",  # NVIDIA's (model_type llama_bidirec)
    "LlamaBidirectionalForSequenceClassification": "llama_bidirectional",
    "GritLM": "gritlm",  # vLLM's name (parasail-ai/GritLM-7B-vllm); GritLM/GritLM-7B by --hf-overrides
    **ENCODER_MODELS,
}


def supported_architectures() -> list[str]:
    return sorted(_MODELS)


def check_supported(architecture: str) -> None:
    if architecture not in _MODELS:
        raise ValueError(
            f"unsupported architecture {architecture!r}; supported: {', '.join(supported_architectures())}"
        )


def get_model_class(architecture: str):
    check_supported(architecture)
    module = importlib.import_module(f"multiscore.models.{_MODELS[architecture]}")
    return getattr(module, architecture)
