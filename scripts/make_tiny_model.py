"""Build a tiny random Hugging Face checkpoint (config + safetensors + tokenizer) with no download.

Used by the tests, the demo and the benchmark. Importable (``make_tiny_model``, ``delimiter_id``)
and a CLI::

    python scripts/make_tiny_model.py --out DIR [--arch qwen3] [--head seqcls] [--num-labels 3]

The tokenizers (``build_tokenizer``, in tiny_tokenizers.py) are built over a fixed English word
list: WordLevel for ``qwen3``/``llama``/``gemma(2)``/``mistral``, a byte-level BPE for ``qwen2``, WordPiece for ``bert``
and a SentencePiece-style Unigram for ``xlm_roberta``. ``<|sep|>`` is the MIS delimiter token of
the decoder archs. The encoder archs take the heads ``seqcls``, ``embed`` (the bare encoder) and
``tokcls`` (a token classifier); ``MLM_ARCHS`` also ``mlm``.
"""

from __future__ import annotations

import argparse
import json
import pathlib

from tiny_decoder_configs import (
    OWN_NAME_CONFIGS,
    QWEN3_5_MOE_EXPERTS,
    apply_family_overrides,
    _gemma4_config,
    _granite_hybrid_config,
    _moe_config,
    _nemotron_h_config,
    _privacy_filter_config,
    _qwen3_5_config,
)
# build_tokenizer (and, from tiny_decoder_configs, _gemma4_config, _qwen3_5_config, QWEN3_5_MOE_EXPERTS) are
# also imported from here, by the tests and the benchmarks.
from tiny_encoder_configs import bart_config, encoder_config, esm_config, esmc_config, rembert_config, special_ids, tiny_shape
from tiny_tokenizers import DELIMITER, build_tokenizer

ARCHS = ("qwen3", "qwen2", "llama", "gemma", "gemma2", "gemma3", "mistral", "phi3")  # decoder archs: the MIS delimiter, heads HEADS
HEADS = ("causal", "seqcls", "tokcls")
ENCODER_ARCHS = ("bert", "xlm_roberta", "roberta", "electra", "distilbert", "modernbert", "nomic_bert", "deberta_v2",
                 "mpnet", "gte", "eurobert", "ernie", "jina_embeddings_v3", "ultrabert", "albert", "deberta",
                 "xlm_roberta_xl", "roberta_prelayernorm", "megatron_bert", "roformer", "mobilebert")
ENCODER_HEADS = ("seqcls", "embed", "mlm", "tokcls")  # embed: the bare encoder (BertModel, ...); mlm: MLM_ARCHS (SPLADE); tokcls: *ForTokenClassification
MLM_ARCHS = ("bert", "distilbert", "roberta", "xlm_roberta", "gte")  # the encoders whose masked LM is served (SPLADE)
ALL_ARCHS = ARCHS + ENCODER_ARCHS
# Decoders built with some heads only (transformers has no Gemma 4 classifier; Qwen3.5's token
# classifier is not served); not in ARCHS, so the tests parametrized over every arch and head leave them out.
EXTRA_DECODER_HEADS = {"gemma4": ("causal",), "qwen3_5": ("causal", "seqcls"), "qwen3_moe": ("causal", "seqcls"), "mellum": ("causal",), "flint": ("causal",), "diffllama": ("causal", "seqcls", "tokcls"),
                       "qwen2_moe": ("causal", "seqcls"), "qwen3_5_moe": ("causal",),
                       "modernbert_decoder": ("causal", "seqcls"), "granite_hybrid": ("causal",),
                       "nemotron_h": ("causal",), "qwen3_next": ("causal", "seqcls", "tokcls"),
                       "openai_privacy_filter": ("tokcls",), "gpt_oss": ("causal", "seqcls"), "lfm2": ("causal",), "lfm2_moe": ("causal",), "lfm3": ("causal",), "smollm3": ("causal", "seqcls"), "olmo2": ("causal", "seqcls"), "olmo3": ("causal", "seqcls"), "gpt2": ("causal", "seqcls", "tokcls"), "gpt_bigcode": ("causal", "seqcls", "tokcls"), "gptj": ("causal", "seqcls"), "codegen": ("causal",), "gpt_neo": ("causal", "seqcls", "tokcls"), "gpt_neox": ("causal", "seqcls", "tokcls"), "opt": ("causal", "seqcls"), "mixtral": ("causal", "seqcls"), "exaone4": ("causal", "seqcls"), "cohere": ("causal",), "cohere2": ("causal",), "ernie4_5": ("causal",), "glm": ("causal", "seqcls"), "glm4": ("causal", "seqcls"), "phi": ("causal", "seqcls", "tokcls"), "jamba": ("causal", "seqcls"), "mamba": ("causal",), "falcon_mamba": ("causal",), "bamba": ("causal",), "mamba2": ("causal",), "falcon_h1": ("causal",), "seed_oss": ("causal", "seqcls", "tokcls"), "arcee": ("causal", "seqcls", "tokcls"), "hunyuan": ("causal", "seqcls"), "apertus": ("causal", "tokcls"), "ernie4_5_moe": ("causal",), "minicpm3": ("causal", "seqcls"), "deepseek_v2": ("causal", "seqcls"), "deepseek_v3": ("causal", "seqcls", "tokcls"), "axk1": ("causal", "seqcls", "tokcls"), "axk2": ("causal", "seqcls", "tokcls"), "mistral4": ("causal", "seqcls"), "glm4_moe_lite": ("causal",), "glm4_moe": ("causal",), "dots1": ("causal",), "solar_open": ("causal",), "minicpm5_moe": ("causal",), "emu3": ("causal",), "olmo_hybrid": ("causal",), "persimmon": ("causal", "seqcls", "tokcls"), "gpt_neox_japanese": ("causal",), "biogpt": ("causal", "seqcls", "tokcls"), "xglm": ("causal",), "apertus1p5": ("causal",), "jetmoe": ("causal", "seqcls"), "dory": ("causal",), "hy_v4": ("causal",), "ergo": ("causal",), "dbrx": ("causal",), "laguna": ("causal",), "nanochat": ("causal",), "mimo_v2_flash": ("causal",), "lara_mini": ("causal",), "gemma3n": ("causal",), "beam": ("causal", "tokcls"), "longcat_flash": ("causal",), "minimax_m2": ("causal",), "helium": ("causal", "seqcls", "tokcls"), "hunyuan_moe": ("causal", "seqcls"), "olmoe": ("causal",), "stablelm": ("causal", "seqcls", "tokcls"), "starcoder2": ("causal", "seqcls"), "nemotron": ("causal", "seqcls"), "olmo": ("causal", "seqcls"), "zamba2": ("causal", "seqcls"), "cohere_compass": ("causal", "seqcls"), "llama4": ("causal",), "deepseek_v32": ("causal",), "glm_moe_dsa": ("causal",), "vaultgemma": ("causal",), "phimoe": ("causal", "seqcls"), "bloom": ("causal", "seqcls", "tokcls"), "mpt": ("causal", "seqcls", "tokcls"), "jais2": ("causal",), "cwm": ("causal",), "youtu": ("causal",), "flex_olmo": ("causal",), "exaone_moe": ("causal",), "afmoe": ("causal",), "cohere2_moe": ("causal",), "kolibri1": ("causal",), "hy_v3": ("causal",), "falcon": ("causal", "seqcls", "tokcls"), "bitnet": ("causal",), "kimi_linear": ("causal",), "aria_text": ("causal",), "minimax": ("causal", "seqcls"), "openai-gpt": ("causal", "seqcls"), "ctrl": ("causal", "seqcls")}
# Models with a bidirectional encoder outside ENCODER_ARCHS' test matrix (BART, an encoder-decoder; ESM,
# whose tokenizer reads amino acids), built with these heads only.
EXTRA_ENCODER_HEADS = {"bart": ("seqcls",), "esm": ("seqcls", "embed", "tokcls"), "rembert": ("seqcls", "embed", "tokcls"), "esmc": ("seqcls", "embed", "tokcls")}
ALL_HEADS = ("causal", "seqcls", "embed", "mlm", "tokcls")
ARCH_PREFIX = {"qwen3": "Qwen3", "qwen2": "Qwen2", "llama": "Llama", "gemma": "Gemma", "gemma2": "Gemma2", "gemma3": "Gemma3", "gemma4": "Gemma4", "qwen3_5": "Qwen3_5", "qwen3_moe": "Qwen3Moe", "mellum": "Mellum", "flint": "Flint", "diffllama": "DiffLlama", "qwen2_moe": "Qwen2Moe", "qwen3_5_moe": "Qwen3_5Moe", "modernbert_decoder": "ModernBertDecoder", "granite_hybrid": "GraniteMoeHybrid", "nemotron_h": "NemotronH", "qwen3_next": "Qwen3Next", "openai_privacy_filter": "OpenAIPrivacyFilter", "gpt_oss": "GptOss", "lfm2": "Lfm2", "smollm3": "SmolLM3", "olmo2": "Olmo2", "gpt2": "GPT2", "gpt_bigcode": "GPTBigCode", "gptj": "GPTJ", "codegen": "CodeGen", "gpt_neo": "GPTNeo", "gpt_neox": "GPTNeoX", "opt": "OPT", "mixtral": "Mixtral", "exaone4": "Exaone4", "cohere": "Cohere", "cohere2": "Cohere2", "ernie4_5": "Ernie4_5", "glm": "Glm", "glm4": "Glm4", "phi": "Phi", "jamba": "Jamba", "mamba": "Mamba", "falcon_mamba": "FalconMamba", "bamba": "Bamba", "mamba2": "Mamba2", "falcon_h1": "FalconH1", "olmo3": "Olmo3", "lfm2_moe": "Lfm2Moe", "lfm3": "Lfm3", "mistral": "Mistral", "phi3": "Phi3", "seed_oss": "SeedOss", "arcee": "Arcee", "hunyuan": "HunYuanDenseV1", "apertus": "Apertus", "ernie4_5_moe": "Ernie4_5_Moe", "minicpm3": "MiniCPM3", "deepseek_v2": "DeepseekV2", "deepseek_v3": "DeepseekV3", "axk1": "AXK1", "axk2": "AXK2", "mistral4": "Mistral4", "glm4_moe_lite": "Glm4MoeLite", "glm4_moe": "Glm4Moe", "dots1": "Dots1", "solar_open": "SolarOpen", "minicpm5_moe": "MiniCPM5Moe", "emu3": "Emu3", "olmo_hybrid": "OlmoHybrid", "persimmon": "Persimmon", "gpt_neox_japanese": "GPTNeoXJapanese", "biogpt": "BioGpt", "xglm": "XGLM", "apertus1p5": "Apertus1p5Text", "jetmoe": "JetMoe", "dory": "Dory", "hy_v4": "HYV4", "ergo": "Ergo", "dbrx": "Dbrx", "laguna": "Laguna", "nanochat": "NanoChat", "mimo_v2_flash": "MiMoV2Flash", "lara_mini": "LaraMini", "gemma3n": "Gemma3n", "beam": "Beam", "longcat_flash": "LongcatFlash", "minimax_m2": "MiniMaxM2", "helium": "Helium", "hunyuan_moe": "HunYuanMoEV1", "olmoe": "Olmoe", "stablelm": "StableLm", "starcoder2": "Starcoder2", "nemotron": "Nemotron", "olmo": "Olmo", "zamba2": "Zamba2", "llama4": "Llama4", "falcon": "Falcon", "deepseek_v32": "DeepseekV32", "vaultgemma": "VaultGemma", "phimoe": "Phimoe", "bloom": "Bloom", "mpt": "Mpt", "jais2": "Jais2", "cwm": "Cwm", "youtu": "Youtu", "flex_olmo": "FlexOlmo", "exaone_moe": "ExaoneMoe", "afmoe": "Afmoe", "cohere2_moe": "Cohere2Moe", "kolibri1": "Kolibri1", "hy_v3": "HYV3", "glm_moe_dsa": "GlmMoeDsa", "cohere_compass": "CohereCompass", "bitnet": "BitNet", "kimi_linear": "KimiLinear", "aria_text": "AriaText", "minimax": "MiniMax", "openai-gpt": "OpenAIGPT", "ctrl": "CTRL",
               "bert": "Bert", "xlm_roberta": "XLMRoberta",
               "roberta": "Roberta", "electra": "Electra", "distilbert": "DistilBert", "modernbert": "ModernBert", "nomic_bert": "NomicBert", "deberta_v2": "DebertaV2",
               "mpnet": "MPNet", "gte": "Gte", "eurobert": "EuroBert", "ernie": "Ernie", "jina_embeddings_v3": "JinaEmbeddingsV3", "ultrabert": "Ultrabert", "xlm_roberta_xl": "XLMRobertaXL", "roberta_prelayernorm": "RobertaPreLayerNorm", "megatron_bert": "MegatronBert", "roformer": "RoFormer", "mobilebert": "MobileBert", "bart": "Bart", "albert": "Albert", "rembert": "RemBert", "deberta": "Deberta", "esm": "Esm", "esmc": "Esmc"}


# Where the config class or a head's class is not named after ARCH_PREFIX (Gemma3Config is multimodal).
CONFIG_CLASS = {"gemma3": "Gemma3TextConfig", "gemma3n": "Gemma3nTextConfig", "emu3": "Emu3TextConfig", "gemma4": "Gemma4TextConfig", "qwen3_5": "Qwen3_5TextConfig",
                "qwen3_5_moe": "Qwen3_5MoeTextConfig", "cohere_compass": "CohereCompassTextConfig", "llama4": "Llama4TextConfig"}
HEAD_CLASS = {("gemma3", "seqcls"): "Gemma3TextForSequenceClassification", ("gpt2", "causal"): "GPT2LMHeadModel", ("openai-gpt", "causal"): "OpenAIGPTLMHeadModel",
              ("ctrl", "causal"): "CTRLLMHeadModel",
              ("qwen3_5", "seqcls"): "Qwen3_5TextForSequenceClassification",
              ("cohere_compass", "seqcls"): "CohereCompassTextForSequenceClassification"}


def make_tiny_model(
    out_dir,
    arch: str = "qwen3",
    head: str = "seqcls",
    num_labels: int = 3,
    seed: int = 0,
    max_shard_size=None,
    **config_overrides,
) -> pathlib.Path:
    """Write a tiny random fp32 checkpoint for ``arch`` x ``head`` to ``out_dir``; return its path.

    Decoder archs (``ARCHS``) take ``head`` in ``HEADS``; encoder archs (``ENCODER_ARCHS``)
    take ``head`` in ``ENCODER_HEADS`` (``embed``: the bare ``BertModel`` / ``XLMRobertaModel``).
    ``max_shard_size`` (e.g. ``"100KB"``) makes a sharded checkpoint with
    ``model.safetensors.index.json``. ``config_overrides`` are set on the config before the
    model is built (e.g. ``tie_word_embeddings=True``).
    """
    import torch
    import transformers

    known = ALL_ARCHS + tuple(EXTRA_DECODER_HEADS) + tuple(EXTRA_ENCODER_HEADS)
    if arch not in known:
        raise ValueError(f"arch must be one of {known}, got {arch!r}")
    valid_heads = ENCODER_HEADS if arch in ENCODER_ARCHS else {**EXTRA_DECODER_HEADS, **EXTRA_ENCODER_HEADS}.get(arch, HEADS)
    if head not in valid_heads:
        raise ValueError(f"head for arch {arch!r} must be one of {valid_heads}, got {head!r}")
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    # RemBERT: a WordPiece vocabulary here; ESM C: ESM's amino-acid characters
    tokenizer = build_tokenizer({"rembert": "bert", "esmc": "esm"}.get(arch, arch))
    if arch == "bart":
        arch_name, cfg = "BartForSequenceClassification", bart_config(tokenizer)
    elif arch == "rembert":
        arch_name = "RemBert" + {"embed": "Model", "tokcls": "ForTokenClassification"}.get(head, "ForSequenceClassification")
        cfg = rembert_config(tokenizer, arch_name)
    elif arch in ("esm", "esmc"):
        arch_name = ARCH_PREFIX[arch] + {"embed": "Model", "tokcls": "ForTokenClassification"}.get(head, "ForSequenceClassification")
        cfg = (esm_config if arch == "esm" else esmc_config)(tokenizer, arch_name)
    elif arch in ENCODER_ARCHS:
        arch_name, cfg = _encoder_config(arch, head, tokenizer)
    else:
        arch_name, cfg = _decoder_config(arch, head, tokenizer)
    if head in ("seqcls", "tokcls"):
        cfg["num_labels"] = num_labels
    cfg.update(config_overrides)
    config = getattr(transformers, CONFIG_CLASS.get(arch, ARCH_PREFIX[arch] + "Config"))(**cfg)

    model_cls = getattr(transformers, arch_name)
    torch.manual_seed(seed)
    model = model_cls(config).to(torch.float32).eval()
    with torch.no_grad():
        # Biases are zero after init; give them values so a loader that drops them is caught.
        gen = torch.Generator().manual_seed(seed + 1)
        for name, p in sorted(model.named_parameters()):
            if name.endswith((".bias", "_proj_bias", "e_score_correction_bias", ".expert_bias", ".gate_bias", ".sinks", ".dense_bias")) or (arch == "deberta" and name.endswith(("q_bias", "v_bias"))):
                # "_proj_bias": experts' biases stored beside them; DeBERTa (v1)'s q/v biases beside in_proj
                p.add_(torch.randn(p.shape, generator=gen) * 0.1)
            elif (arch in ENCODER_ARCHS or arch in ("bart", "esm", "esmc", "rembert", "modernbert_decoder", "gpt2", "gpt_bigcode", "gptj", "codegen", "dbrx", "gpt_neo", "gpt_neox", "gpt_neox_japanese", "persimmon", "falcon", "phimoe", "bloom", "mpt", "jais2", "opt", "xglm", "biogpt", "cohere", "cohere2", "cohere2_moe", "cohere_compass", "phi", "stablelm", "starcoder2", "nemotron", "openai-gpt", "ctrl")) and name.endswith(
                    ("LayerNorm.weight", "layernorm1.weight", "layernorm2.weight", "layer_norm.weight", "norm.weight", ".ln.weight", "ln_1.weight", "ln_2.weight", "ln_f.weight", "layernorm.weight", "final_layer_norm.weight", "layernorm_embedding.weight", "ln_attn.weight", "ln_mlp.weight", "word_embeddings_layernorm.weight", "norm_1.weight", "norm_2.weight", "norm_f.weight")):
                p.add_(torch.randn(p.shape, generator=gen) * 0.1)  # LayerNorm weights start at 1
            elif arch in ("granite_hybrid", "nemotron_h", "jamba", "mamba", "falcon_mamba", "bamba", "mamba2", "falcon_h1", "zamba2") and name.endswith(("norm.weight", "norm_f.weight", "A_log", "dt_bias", ".D")):
                p.add_(torch.randn(p.shape, generator=gen) * 0.3)  # Mamba's start at fixed values, norms at 1
            elif arch in ("gemma", "gemma2", "vaultgemma", "gemma3", "gemma4", "qwen3_5", "qwen3_5_moe", "qwen3_next", "lfm2", "lfm2_moe", "lfm3", "olmo2", "olmo3", "exaone4", "glm4", "hunyuan", "apertus", "minicpm3", "deepseek_v2", "deepseek_v3", "axk1", "deepseek_v32", "glm_moe_dsa", "mistral4", "glm4_moe_lite", "glm4_moe", "dots1", "solar_open", "minimax_m2", "helium", "hunyuan_moe", "olmoe", "llama4", "youtu", "flex_olmo", "cwm", "exaone_moe", "afmoe", "kolibri1", "hy_v3", "flint", "longcat_flash", "beam", "gemma3n", "lara_mini", "mimo_v2_flash", "laguna", "ergo", "hy_v4", "jetmoe", "apertus1p5", "axk2", "olmo_hybrid", "bitnet", "kimi_linear", "minimax") and name.endswith(("norm.weight", "scale", "alpha_p", "alpha_n", "residual_gate.weight")):
                p.add_(torch.randn(p.shape, generator=gen) * 0.1)  # Gemma's start at 0 (it scales by 1 + w); Gemma 4's at 1; xIELU's at fixed values
        if arch == "dory":  # its scales start equal across channels; spread them so a channel read wrongly shows
            for name, p in model.named_parameters():
                if name.rpartition(".")[2] in ("sqk", "s_gate", "suv_gate", "suv_up", "lambda_1", "lambda_2", "logit_scale"):
                    p.mul_(1 + 0.3 * torch.randn(p.shape, generator=gen))
        for name, b in model.named_buffers():
            if name.endswith(("layer_scalar", "e_score_correction_bias", "expert_bias")):  # saved with the checkpoint; 1 / 0 after init
                b.add_(torch.randn(b.shape, generator=gen) * 0.1)
        if arch == "zamba2":  # one set of weights per shared block, as the published checkpoints hold them
            hybrids = [layer.shared_transformer for layer in model.model.layers if hasattr(layer, "shared_transformer")]
            for j, block in enumerate(hybrids):
                block.load_state_dict(hybrids[j % config.num_mem_blocks].state_dict())
    model.config.architectures = [arch_name]

    save_kwargs = {"safe_serialization": True}
    if max_shard_size is not None:
        save_kwargs["max_shard_size"] = max_shard_size
    try:
        model.save_pretrained(out, **save_kwargs)
    except TypeError:  # newer transformers dropped safe_serialization (always safetensors)
        save_kwargs.pop("safe_serialization")
        model.save_pretrained(out, **save_kwargs)
    tokenizer.save_pretrained(out)
    if arch in ("bert", "electra", "distilbert", "modernbert", "nomic_bert", "deberta_v2", "ernie", "albert", "deberta"):
        # transformers 5 saves only tokenizer.json; vocab.txt (one token per line, in id order)
        # is what BERT checkpoints ship and what vocab-file based loaders read.
        vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
        (out / "vocab.txt").write_text("".join(tok + "\n" for tok, _ in vocab), encoding="utf-8")
    return out


def _decoder_config(arch: str, head: str, tokenizer) -> tuple[str, dict]:
    if head == "tokcls" and arch == "gemma3":
        raise ValueError("head 'tokcls' is not built for gemma3 (transformers has no Gemma3 token classifier)")
    suffix = {"causal": "ForCausalLM", "tokcls": "ForTokenClassification"}.get(head, "ForSequenceClassification")
    arch_name = HEAD_CLASS.get((arch, head)) or ARCH_PREFIX[arch] + suffix
    if arch == "modernbert_decoder":
        return arch_name, _modernbert_decoder_config(arch_name, tokenizer)
    if arch in OWN_NAME_CONFIGS:  # configs that name their shape their own way (tiny_decoder_configs.py)
        return arch_name, dict(OWN_NAME_CONFIGS[arch], vocab_size=tiny_shape(tokenizer)["vocab_size"],
                               architectures=[arch_name], **special_ids(tokenizer))
    cfg = dict(
        **tiny_shape(tokenizer),
        num_key_value_heads=2,
        max_position_embeddings=4096,
        rms_norm_eps=1e-6,
        **special_ids(tokenizer),
        tie_word_embeddings=False,
        architectures=[arch_name],
    )
    if arch in ("qwen3", "gemma", "gemma2", "gemma3", "gemma4", "qwen3_5", "qwen3_moe", "qwen3_5_moe", "qwen3_next", "mellum", "flint"):
        cfg["head_dim"] = 16
    if arch == "gemma3":  # one sliding and one global layer, with their own rotary bases
        cfg.update(layer_types=["sliding_attention", "full_attention"], sliding_window=4, query_pre_attn_scalar=16,
                   rope_parameters={"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1e6},
                                    "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}})
    if arch == "gemma4":
        cfg.update(_gemma4_config(cfg["vocab_size"]))
    if arch == "qwen3_5":
        cfg.update(_qwen3_5_config())
    if arch in ("qwen3_moe", "qwen2_moe"):
        cfg.update(_moe_config(shared_expert=arch == "qwen2_moe"))
    if arch == "diffllama":  # λ's vectors drawn wide enough that λ moves away from λ_init
        cfg.update(lambda_std_dev=0.5)
    if arch == "flint":  # a sliding layer (rotary, a window of 4), a full one (no rotary, its MLP dense), a sliding one;
        # 4 experts of 32, 2 per token, beside an ungated shared one of 48
        cfg.update(num_hidden_layers=3, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
                   shared_expert_intermediate_size=48, mlp_only_layers=[1], sliding_window=4,
                   layer_types=["sliding_attention", "full_attention", "sliding_attention"])
    if arch == "mellum":  # Qwen3-MoE's experts; a sliding layer (a window of 4, its own rotary base), the middle MLP dense
        moe = _moe_config(shared_expert=False)
        del moe["decoder_sparse_step"], moe["mlp_only_layers"]
        cfg.update(moe, mlp_layer_types=["sparse", "dense", "sparse"], sliding_window=4,
                   layer_types=["sliding_attention", "full_attention", "full_attention"],
                   rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 5e5},
                                    "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}})
    if arch == "granite_hybrid":
        cfg.update(_granite_hybrid_config())
    if arch == "qwen3_next":  # Qwen3.5's layers without M-RoPE, experts but in its dense layer 1
        cfg.update(_qwen3_5_config(), **QWEN3_5_MOE_EXPERTS, mlp_only_layers=[1], decoder_sparse_step=1,
                   rope_parameters={"rope_type": "default", "rope_theta": 1e4, "partial_rotary_factor": 0.25})
    if arch == "nemotron_h":  # its own names for the norms' epsilon
        cfg.update(_nemotron_h_config(cfg.pop("rms_norm_eps")))
    if arch == "qwen3_5_moe":  # every MLP sparse, with a shared expert; no dense intermediate size
        del cfg["intermediate_size"]
        cfg.update(_qwen3_5_config(), **QWEN3_5_MOE_EXPERTS)
    if arch == "openai_privacy_filter":
        cfg.update(_privacy_filter_config())
    if arch == "gpt_oss":  # the privacy filter's shapes, causal: a sliding layer then a full one
        cfg.update(_privacy_filter_config(), layer_types=["sliding_attention", "full_attention"])
    if arch == "gpt_neox":  # Pythia's: a quarter of each head rotates, parallel residual, LayerNorms
        cfg.update(layer_norm_eps=cfg.pop("rms_norm_eps"), hidden_act="gelu", use_parallel_residual=True,
                   rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25})
        del cfg["num_key_value_heads"]
    if arch == "persimmon":  # half of each head rotates; shared q/k LayerNorms; a squared-ReLU MLP; LayerNorms
        cfg.update(layer_norm_eps=cfg.pop("rms_norm_eps"))
        del cfg["num_key_value_heads"]
    if arch == "gpt_neox_japanese":  # half of each head rotates; an MLP of twice the hidden size; LayerNorms
        cfg.update(layer_norm_eps=cfg.pop("rms_norm_eps"), hidden_act="gelu", intermediate_multiple_size=2,
                   rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5})
        del cfg["num_key_value_heads"], cfg["intermediate_size"]
    if arch in ("cohere", "cohere2", "cohere_compass"):  # LayerNorms; logits scaled by 0.5; Command R7B: a sliding layer, then a global one
        cfg.update(layer_norm_eps=cfg.pop("rms_norm_eps"), logit_scale=0.5, tie_word_embeddings=True)
        if arch in ("cohere2", "cohere_compass"):
            cfg.update(sliding_window=4, layer_types=["sliding_attention", "full_attention"])
        if arch == "cohere_compass":  # the half rotary, each layer type's own (or none: rope_parameters' None)
            cfg.update(rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 1e4},
                                        "full_attention": {"rope_type": "default", "rope_theta": 5e5}})
    if arch == "phi":  # biased LayerNorms, gelu_new, 0.4 of each head rotating, a biased LM head
        cfg.update(layer_norm_eps=cfg.pop("rms_norm_eps"), hidden_act="gelu_new",
                   rope_parameters={"rope_type": "default", "rope_theta": 1e4, "partial_rotary_factor": 0.5})
    if arch in ("glm", "glm4"):  # heads of 16, a quarter of each rotating (interleaved pairs)
        cfg.update(head_dim=16, rope_parameters={"rope_type": "default", "rope_theta": 1e4, "partial_rotary_factor": 0.5})
    if arch == "ernie4_5":  # biases everywhere (use_bias), so a loader that drops one is caught
        cfg.update(use_bias=True, head_dim=16)
    if arch == "exaone4":  # a sliding layer of 4 positions with rotary, then a global one without
        cfg.update(head_dim=16, sliding_window=4, layer_types=["sliding_attention", "full_attention"])
    if arch == "jamba":  # Mamba, attention (no positions), Mamba, attention; experts in the attention layers
        cfg.update(num_hidden_layers=4, attn_layer_period=2, attn_layer_offset=1, expert_layer_period=2, expert_layer_offset=1,
                   num_experts=4, num_experts_per_tok=2, mamba_d_state=8, mamba_d_conv=4, mamba_expand=2, mamba_dt_rank=8)
    if arch == "bamba":  # Mamba2, attention (half of each head rotating), Mamba2; 4 Mamba heads of 32 in 2 groups
        cfg.update(num_hidden_layers=3, attn_layer_indices=[1], mamba_n_heads=4, mamba_d_head=32, mamba_n_groups=2,
                   mamba_d_state=8, mamba_d_conv=4, mamba_expand=2, mamba_chunk_size=256,
                   rope_parameters={"rope_type": "default", "rope_theta": 1e4, "partial_rotary_factor": 0.5})
    if arch == "zamba2":  # Mamba2, hybrid, Mamba2, hybrid: both hybrids run one shared block, each with its adapters
        cfg.update(num_hidden_layers=4, layers_block_type=["linear_attention", "hybrid"] * 2, num_mem_blocks=1, num_key_value_heads=4,
                   use_shared_attention_adapter=True, adapter_rank=8, use_mem_rope=True, n_mamba_heads=4,
                   mamba_ngroups=2, mamba_d_state=8, mamba_d_conv=4, mamba_expand=2, time_step_min=0.3,
                   rope_parameters={"rope_type": "default", "rope_theta": 1e4})
    if arch == "falcon_h1":  # 4 Mamba2 heads of 16 in 2 groups beside GQA heads of 16; every muP multiplier away from 1
        cfg.update(head_dim=16, mamba_d_ssm=64, mamba_n_heads=4, mamba_d_head=16, mamba_n_groups=2, mamba_d_state=8,
                   mamba_d_conv=4, mamba_chunk_size=256, mamba_rms_norm=True, mamba_norm_before_gate=False,
                   mamba_proj_bias=True, projectors_bias=True, lm_head_multiplier=0.5, embedding_multiplier=2.0,
                   mlp_multipliers=[0.7, 1.3], key_multiplier=0.8, attention_out_multiplier=1.2,
                   attention_in_multiplier=0.9, ssm_multipliers=[0.6, 1.1, 0.9, 1.2, 0.8], ssm_in_multiplier=1.4,
                   ssm_out_multiplier=0.75, rope_parameters={"rope_type": "default", "rope_theta": 1e4})
    if arch == "mamba2":  # its own names: 3 Mamba2 layers of 4 heads of 32 in 2 groups, a state of 8, an untied LM head
        shape = tiny_shape(tokenizer)
        return arch_name, dict(vocab_size=shape["vocab_size"], hidden_size=64, num_hidden_layers=3, num_heads=4,
                               head_dim=32, n_groups=2, state_size=8, expand=2, conv_kernel=4, use_bias=True,
                               chunk_size=256, initializer_range=0.1, tie_word_embeddings=False, architectures=[arch_name],
                               pad_token_id=tokenizer.convert_tokens_to_ids("<pad>"),
                               bos_token_id=tokenizer.convert_tokens_to_ids("<bos>"),
                               eos_token_id=tokenizer.convert_tokens_to_ids("<eos>"))
    if arch in ("mamba", "falcon_mamba"):  # its own names: 3 Mamba layers, a state of 8, dt rank 8, tied LM head
        shape = tiny_shape(tokenizer)
        return arch_name, dict(vocab_size=shape["vocab_size"], hidden_size=64, num_hidden_layers=3, state_size=8,
                               expand=2, conv_kernel=4, time_step_rank=8, use_bias=True, initializer_range=0.1,
                               tie_word_embeddings=True, architectures=[arch_name],
                               pad_token_id=tokenizer.convert_tokens_to_ids("<pad>"),
                               bos_token_id=tokenizer.convert_tokens_to_ids("<bos>"),
                               eos_token_id=tokenizer.convert_tokens_to_ids("<eos>"))
    apply_family_overrides(arch, cfg)
    if arch == "ernie4_5_moe":  # layer 0 dense, 1 and 2 sparse: 4 experts of 32, 2 per token, one shared expert
        cfg.update(num_hidden_layers=3, moe_num_experts=4, moe_k=2, moe_intermediate_size=32, moe_num_shared_experts=1,
                   moe_layer_start_index=1, use_bias=False)
    if arch == "mixtral":  # 4 experts of 128, 2 per token, a 5-token window
        cfg.update(num_local_experts=4, num_experts_per_tok=2, sliding_window=5)
    if arch == "olmo3":  # a sliding layer of 4 positions (plain rotary), then a full one (linear scaling)
        cfg.update(layer_types=["sliding_attention", "full_attention"], sliding_window=4,
                   rope_parameters={"full_attention": {"rope_type": "linear", "factor": 4.0, "rope_theta": 5e5},
                                    "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}})
    if arch == "smollm3":  # layer 1 of 2 without rotary (NoPE every 2nd layer)
        cfg.update(no_rope_layer_interval=2)
    if arch == "lfm2":  # conv, attention, conv; its own name for the norms' epsilon; an MLP of 96
        cfg.update(norm_eps=cfg.pop("rms_norm_eps"), layer_types=["conv", "full_attention", "conv"], num_hidden_layers=3,
                   conv_L_cache=3, block_multiple_of=16, block_ffn_dim_multiplier=1.0, block_auto_adjust_ff_dim=True)
    if arch == "lfm3":  # conv, sliding attention (4 positions), conv, full attention; head gates, sandwich norms
        cfg.update(norm_eps=cfg.pop("rms_norm_eps"), head_dim=16, num_hidden_layers=4, conv_L_cache=7, sliding_window=4,
                   layer_types=["conv", "sliding_attention", "conv", "full_attention"])
    if arch == "lfm2_moe":  # the same, layer 0 dense; 4 experts of 32, 2 per token, biased routing, scaled
        cfg.update(norm_eps=cfg.pop("rms_norm_eps"), layer_types=["conv", "full_attention", "conv"], num_hidden_layers=3,
                   conv_L_cache=3, num_dense_layers=1, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
                   use_expert_bias=True, routed_scaling_factor=1.5, norm_topk_prob=True)
    return arch_name, cfg


def _encoder_config(arch: str, head: str, tokenizer) -> tuple[str, dict]:
    if head == "mlm" and arch not in MLM_ARCHS:
        raise ValueError(f"head 'mlm' (a masked LM served as SPLADE) is built for archs {MLM_ARCHS} only")
    arch_name = ARCH_PREFIX[arch] + {"embed": "Model", "mlm": "ForMaskedLM", "tokcls": "ForTokenClassification"}.get(
        head, "ForSequenceClassification")
    return arch_name, encoder_config(arch, arch_name, tokenizer)



def _modernbert_decoder_config(arch_name: str, tokenizer) -> dict:
    """One global layer, then two local ones that see their last 3 positions (local_attention 6), so
    the tests' 9-token queries cross the window; the two rotary bases differ."""
    return dict(
        **{**tiny_shape(tokenizer), "num_hidden_layers": 3}, local_attention=6, max_position_embeddings=4096,
        rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 160000.0},
                         "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}},
        pad_token_id=tokenizer.convert_tokens_to_ids("<pad>"), bos_token_id=tokenizer.convert_tokens_to_ids("<bos>"),
        eos_token_id=tokenizer.convert_tokens_to_ids("<eos>"), cls_token_id=tokenizer.convert_tokens_to_ids("<bos>"),
        sep_token_id=tokenizer.convert_tokens_to_ids("<eos>"), architectures=[arch_name],
    )


def delimiter_id(out_dir) -> int:
    """The token id of the MIS delimiter ``<|sep|>`` in the checkpoint's tokenizer (decoder archs)."""
    data = json.loads((pathlib.Path(out_dir) / "tokenizer.json").read_text())
    for added in data.get("added_tokens", []):
        if added["content"] == DELIMITER:
            return int(added["id"])
    vocab = data["model"]["vocab"]
    if not isinstance(vocab, dict) or DELIMITER not in vocab:
        raise ValueError(f"the tokenizer in {out_dir} has no {DELIMITER} token (an encoder checkpoint?)")
    return int(vocab[DELIMITER])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--arch", default="qwen3", choices=ALL_ARCHS)
    parser.add_argument("--head", default="seqcls", choices=ALL_HEADS,
                        help=f"embed, tokcls: encoder archs only; mlm: {', '.join(MLM_ARCHS)} (a masked LM, served as SPLADE)")
    parser.add_argument("--num-labels", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-shard-size", default=None, help='e.g. "100KB" for a sharded checkpoint')
    args = parser.parse_args(argv)
    path = make_tiny_model(
        args.out,
        arch=args.arch,
        head=args.head,
        num_labels=args.num_labels,
        seed=args.seed,
        max_shard_size=args.max_shard_size,
    )
    print(f"model: {path}")
    if args.arch in ARCHS:
        print(f"delimiter_id: {delimiter_id(path)}")


if __name__ == "__main__":
    main()
