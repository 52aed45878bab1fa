"""Multimodal checkpoints served as their language model, on text (configs/checkpoint_layouts.py):
Qwen2-VL, Qwen2.5-VL, Qwen3-VL and Qwen3-VL-MoE (its experts stored 3-D), Gemma 3 4B-27B
(``Gemma3ForConditionalGeneration``), Llama 4 Scout / Maverick, Mistral Small 3.1/3.2 and 4
(``Mistral3ForConditionalGeneration``, around a ``mistral`` or a ``mistral4`` language model), the LLaVA family
(Llama, Mistral, Qwen2 inside; VipLLaVA, Video-LLaVA, LLaVA-NeXT-Video), InternVL, Idefics2/3, SmolVLM, Aya Vision,
LFM2-VL, LFM3-VL, HyperCLOVA X SEED Vision, EXAONE 4.5, Fuyu, GOT-OCR 2, Ovis2, LightOnOCR, Janus, DeepSeek-VL,
VideoLLaMA3, GLM-4.1V / 4.5V / 4.6V / GLM-OCR, granite-docling, Granite 4 Vision, LLaVA-OneVision-1.5, Ovis2.5,
Qianfan-OCR, DeepSeek-VL hybrid, MiniCPM-V 4.6 / 4.7, MiniCPM-OCR, Command A Vision, Emu3, Aria, PaddleOCR-VL, DeepSeek-OCR 2, Unlimited OCR, HunYuan-VL, Cosmos3 Edge, and the Qwen2.5-Omni /
Qwen3-Omni thinkers (alone, and inside the whole model). Tiny ones, saved by transformers with their vision towers, score as transformers' multimodal model does
on text alone, single-item and MIS; converted to a classifier (LLM-as-reranker) too."""

import json

import pytest
import torch

from make_tiny_model import build_tokenizer, delimiter_id
from multimodal_builders import BUILDERS, CLIP_VISION, GLM_VISION, SERVED_AS, gemma3_vlm, qwen_vl
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from worker_batches import mixed_inputs, score_both_ways, worker

LABELS = [3, 9, 20]

@pytest.fixture(scope="module", params=sorted(BUILDERS))
def multimodal(request, tmp_path_factory):
    """(checkpoint dir, transformers' multimodal model) for a tiny random checkpoint."""
    torch.manual_seed(0)
    tokenizer = build_tokenizer({"gemma3": "gemma3", "mistral3": "mistral", "mistral3_mistral4": "mistral"}.get(request.param, "qwen3"))
    vocab = (len(tokenizer) + 63) // 64 * 64
    model = BUILDERS[request.param](vocab).eval()
    path = tmp_path_factory.mktemp(request.param)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path, model, request.param


def _reference(model, query, items, labels):
    """Each item alone through transformers' multimodal model, text only: label probabilities."""
    rows = []
    with torch.no_grad():
        for item in items:
            logits = model(input_ids=torch.tensor([query + item])).logits[0, -1].float()
            rows.append(torch.log_softmax(logits, -1)[labels].exp().tolist())
    return rows


def test_the_checkpoint_holds_a_vision_tower_and_the_published_layout(multimodal):
    from safetensors.torch import load_file

    path, _, family = multimodal
    names = load_file(str(path / "model.safetensors")).keys()
    assert any(n.startswith(("vision_tower.", "visual.", "model.visual.", "vision_model.", "model.vision_model.",
                              "model.vision_tower.", "vision_embed_tokens.", "image_tower.", "model.vision_encoder.",
                              "visual_tokenizer.", "vqmodel.", "model.sam_model.", "vit."))
               for n in names)
    layers = {"qwen2_vl": "model.layers.", "qwen2_5_vl": "model.layers.", "qwen2_5_omni": "model.layers.",
              "qwen3_omni": "model.layers.", "llava_onevision1_5": "model.model.layers.", "ovis2_5": "llm.model.layers.",
              "qianfan_ocr": "language_model.model.encoder.layers.", "cohere2_vision": "model.language_model.layers.",
              "emu3": "text_model.model.layers.", "paddleocr_vl": "model.layers.", "deepseek_ocr2": "model.layers.",
              "unlimited_ocr": "model.layers.", "hunyuan_vl": "model.layers.", "cosmos3_edge": "layers.", "qwen3_vl": "model.language_model.layers.",
              "qwen3_vl_moe": "model.language_model.layers.", "cohere_compass": "model.language_model.layers.",
              "lfm2_vl": "model.language_model.layers.", "idefics3": "model.text_model.layers.",
              "smolvlm": "model.text_model.layers.", "hyperclovax_vision": "model.language_model.layers.",
              "exaone4_5": "model.language_model.layers.", "ovis2": "model.language_model.layers.",
              "lighton_ocr": "model.language_model.layers.", "idefics2": "model.text_model.layers.",
              "janus": "model.language_model.layers.", "deepseek_vl": "model.language_model.layers.",
              "lfm3_vl": "model.language_model.layers.", "granite_docling": "model.text_model.layers.",
              "granite4_vision": "model.language_model.layers.", "video_llama_3": "model.language_model.layers.",
              **dict.fromkeys(GLM_VISION, "model.language_model.layers."),
              **dict.fromkeys(("deepseek_vl_hybrid", "minicpmv4_6", "minicpmv4_7", "minicpm_ocr"),
                              "model.language_model.layers.")}.get(family, "language_model.model.layers.")
    # Persimmon's fused projection; LFM3's first layers are convolutions (every layer has its operator_norm)
    q_proj = {"fuyu": "self_attn.query_key_value.weight", "cosmos3_edge": "self_attn.to_q.weight", **dict.fromkeys(
                  ("minicpmv4_6", "minicpmv4_7", "minicpm_ocr"), "linear_attn.in_proj_qkv.weight"),
              "lfm3_vl": "operator_norm.weight"}.get(family, "self_attn.q_proj.weight")
    assert layers + "0." + q_proj in names or layers + "1." + q_proj in names
    # Gemma 3, InternVL, Aya Vision, LFM2-VL, GOT-OCR 2, Ovis2, LightOnOCR, Janus, DeepSeek-VL and LFM3-VL tie their LM head;
    # the others keep their own, which must load too.
    tied = family in ("gemma3", "internvl", "aya_vision", "lfm2_vl", "got_ocr2", "ovis2", "lighton_ocr", "janus",
                      "deepseek_vl", "lfm3_vl", "deepseek_vl_hybrid", "minicpm_ocr", "cohere2_vision",
                      "paddleocr_vl", "hunyuan_vl")
    assert any(head in names for head in ("language_model.lm_head.weight", "lm_head.weight", "llm.lm_head.weight",
                                          "text_model.lm_head.weight",
                                          "model.language_model.lm_head.weight")) == (not tied)


@pytest.mark.parametrize("seed", [0, 5])
def test_text_scores_equal_transformers_single_item_and_mis(multimodal, seed):
    path, model, family = multimodal
    w = worker(path, multi_item_scoring_delimiter=delimiter_id(path))
    assert type(w.model).__name__ == SERVED_AS[family][0]
    query, items = mixed_inputs(seed=seed)
    single, mis = score_both_ways(w, query, items, LABELS)
    ref = _reference(model, query, items, LABELS)
    torch.testing.assert_close(torch.tensor(single), torch.tensor(ref), atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), torch.tensor(ref), atol=1e-4, rtol=0)


# The names vLLM's docs have users give a Qwen-VL reranker (Qwen3-VL-Reranker: Qwen3VLForSequenceClassification).
VLLM_CLASSIFIER_NAMES = {"qwen2_vl": "Qwen2VLForSequenceClassification", "qwen2_5_vl": "Qwen2_5_VLForSequenceClassification",
                         "qwen3_vl": "Qwen3VLForSequenceClassification"}


def test_converted_to_a_reranker_by_overrides(multimodal):
    """vLLM's LLM-as-reranker overrides apply to the language model: one label from two LM-head rows;
    the classifier named as the text model's, and (Qwen-VL) as vLLM names the multimodal one."""
    from transformers import AutoTokenizer

    path, model, family = multimodal
    tokens = AutoTokenizer.from_pretrained(path).convert_ids_to_tokens(LABELS[:2])
    query, items = mixed_inputs(seed=2)
    ref = _reference(model, query, items, LABELS[:2])
    expected = [[torch.logit(torch.tensor(p1 / (p0 + p1))).item()] for p0, p1 in ref]
    for architecture in [SERVED_AS[family][1]] + ([VLLM_CLASSIFIER_NAMES[family]] if family in VLLM_CLASSIFIER_NAMES else []):
        overrides = {"architectures": [architecture], "classifier_from_token": tokens, "method": "from_2_way_softmax"}
        w = worker(path, json_model_override_args=json.dumps(overrides))
        assert type(w.model).__name__ == SERVED_AS[family][1]
        single, _ = score_both_ways(w, query, items, None)
        torch.testing.assert_close(torch.tensor(single), torch.tensor(expected), atol=1e-4, rtol=0)


BARE = {"gemma3": ("Gemma3Model", "Gemma3TextModel"), "qwen3_vl": ("Qwen3VLModel", "Qwen3Model"),
        "qwen2_5_vl": ("Qwen2_5_VLModel", "Qwen2Model"), "mistral3": ("Mistral3Model", "MistralModel"),
        "mistral3_mistral4": ("Mistral3Model", "Mistral4Model")}


@pytest.mark.parametrize("family", sorted(BARE))
def test_a_bare_multimodal_model_embeds_its_text_as_transformers(tmp_path, family):
    """The bare model (no LM head, its language model saved as ``language_model.*``): the last
    token's hidden state, normalised, as the bare text model embeds."""
    import transformers

    torch.manual_seed(0)
    tokenizer = build_tokenizer({"gemma3": "gemma3", "mistral3": "mistral", "mistral3_mistral4": "mistral"}.get(family, "qwen3"))
    vocab = (len(tokenizer) + 63) // 64 * 64
    full = BUILDERS[family](vocab)
    bare = getattr(transformers, BARE[family][0])(full.config).eval()
    bare.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    w = worker(tmp_path)
    assert type(w.model).__name__ == BARE[family][1]
    texts = [[5, 17, 30, 8, 9], [44, 9], [12, 13, 14, 15, 16, 70]]
    seqs = [ScoreSequence(str(i), ids, 0, 1, PoolingParams(activation="default")) for i, ids in enumerate(texts)]
    ours = torch.cat(w.forward(seqs))
    with torch.no_grad():
        last = torch.stack([bare(input_ids=torch.tensor([ids])).last_hidden_state[0, -1] for ids in texts])
    torch.testing.assert_close(ours, torch.nn.functional.normalize(last, dim=-1), atol=1e-5, rtol=0)


def test_gemma3s_multimodal_classifier_scores_text_as_transformers(tmp_path):
    """transformers' Gemma3ForSequenceClassification (its labels in the outer config, the language
    model under ``model.language_model``): served as the text classifier."""
    from transformers import Gemma3ForSequenceClassification

    torch.manual_seed(0)
    tokenizer = build_tokenizer("gemma3")
    vocab = (len(tokenizer) + 63) // 64 * 64
    config = gemma3_vlm(vocab).config
    config.id2label = {0: "a", 1: "b", 2: "c"}
    config.label2id = {"a": 0, "b": 1, "c": 2}
    model = Gemma3ForSequenceClassification(config).eval()
    model.config.architectures = ["Gemma3ForSequenceClassification"]
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    w = worker(tmp_path)
    assert type(w.model).__name__ == "Gemma3TextForSequenceClassification" and w.model_config.num_labels == 3
    query, items = mixed_inputs(seed=3)
    single, _ = score_both_ways(w, query, items, None)
    with torch.no_grad():
        expected = [model(input_ids=torch.tensor([query + item])).logits[0].tolist() for item in items]
    torch.testing.assert_close(torch.tensor(single), torch.tensor(expected), atol=1e-4, rtol=0)


def test_jina_reranker_m0_scores_text_pairs_as_its_model_does(tmp_path):
    """jina-reranker-m0 (``JinaVLForRanking``, a Qwen2-VL): its MLP score (``score.0`` -> ReLU ->
    ``score.2``) on transformers' Qwen2-VL language model at the last token, for vLLM's pair format:
    the document, then the query, then the score token 100; vLLM's name for it loads the same."""
    from safetensors.torch import load_file, save_file

    from multiscore.entrypoints.runtime import _score_template
    from multiscore.server_args import ServerArgs
    from multiscore.tokenizer.pair_tokenizer import PairTokenizer

    torch.manual_seed(0)
    tokenizer = build_tokenizer("qwen3")
    vocab = (len(tokenizer) + 63) // 64 * 64
    model = qwen_vl("2")(vocab).eval()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    gen = torch.Generator().manual_seed(1)
    head = {"score.0.weight": torch.randn(64, 64, generator=gen) * 0.2, "score.0.bias": torch.randn(64, generator=gen) * 0.1,
            "score.2.weight": torch.randn(1, 64, generator=gen) * 0.2, "score.2.bias": torch.randn(1, generator=gen) * 0.1}
    save_file({**load_file(str(tmp_path / "model.safetensors")), **head}, str(tmp_path / "model.safetensors"))
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "architectures": ["JinaVLForRanking"]}))

    w = worker(tmp_path)
    assert type(w.model).__name__ == "JinaVLForRanking" and w.model_config.default_score_template == "jina_reranker_m0"
    loaded = w.model_config.load_tokenizer()
    pairs = PairTokenizer(loaded, _score_template(ServerArgs(model_path=str(tmp_path)), w.model_config, loaded))
    documents = ["a cat sat on the mat", "the old man and the sea"]
    prompts = pairs.templated_pairs("what sat", documents)
    assert prompts[0] == tokenizer("**Document**:\na cat sat on the mat\n**Query**:\nwhat sat")["input_ids"] + [100]
    pooling = PoolingParams(activation="none")
    got = torch.cat(w.forward([ScoreSequence(str(i), ids, 0, 1, pooling) for i, ids in enumerate(prompts)]))
    with torch.no_grad():
        hidden = torch.stack([model.model(input_ids=torch.tensor([ids])).last_hidden_state[0, -1] for ids in prompts])
        expected = torch.relu(hidden @ head["score.0.weight"].T + head["score.0.bias"]) @ head["score.2.weight"].T + head["score.2.bias"]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    vllm_named = worker(tmp_path, json_model_override_args=json.dumps({"architectures": ["JinaVLForSequenceClassification"]}))
    torch.testing.assert_close(torch.cat(vllm_named.forward([ScoreSequence("0", prompts[0], 0, 1, pooling)])), got[:1],
                               atol=1e-5, rtol=0)


def test_qwen3_vl_moe_experts_load_as_the_hub_ships_them(tmp_path):
    """The published layout stores the 3-D experts transposed from what transformers 5 saves
    ([E, H, 2I], [E, I, H]): both score alike."""
    import shutil

    from safetensors.torch import load_file, save_file

    torch.manual_seed(0)
    tokenizer = build_tokenizer("qwen3")
    path, hub = tmp_path / "saved", tmp_path / "hub"
    BUILDERS["qwen3_vl_moe"]((len(tokenizer) + 63) // 64 * 64).save_pretrained(path)
    tokenizer.save_pretrained(path)
    shutil.copytree(path, hub)
    tensors = load_file(str(path / "model.safetensors"))
    experts = [n for n in tensors if n.endswith(("experts.gate_up_proj", "experts.down_proj"))]
    assert experts
    save_file({n: t.transpose(1, 2).contiguous() if n in experts else t for n, t in tensors.items()},
              str(hub / "model.safetensors"), metadata={"format": "pt"})
    query, items = mixed_inputs(seed=0)
    assert score_both_ways(worker(hub), query, items, LABELS) == score_both_ways(worker(path), query, items, LABELS)


def test_a_vision_language_model_around_a_language_model_not_served_here_is_refused(tmp_path):
    """LLaVA around a language model multiscore does not serve (RWKV): refused at start-up, the model named."""
    from transformers import LlavaConfig

    config = LlavaConfig(text_config=dict(model_type="rwkv", hidden_size=64, num_hidden_layers=1, vocab_size=256),
                         vision_config=CLIP_VISION, image_token_index=250)
    config.architectures = ["LlavaForConditionalGeneration"]
    config.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="LlavaForConditionalGeneration around a 'rwkv' language model is not supported: "
                                         "RwkvForCausalLM is not served here"):
        worker(tmp_path)


@pytest.mark.parametrize("family, architecture, model_type", [
    ("qwen2_5_omni", "Qwen2_5OmniForConditionalGeneration", "qwen2_5_omni"),
    ("qwen2_5_omni", "Qwen2_5OmniModel", "qwen2_5_omni"),
    ("qwen3_omni", "Qwen3OmniMoeForConditionalGeneration", "qwen3_omni_moe")])
def test_the_whole_omni_model_serves_its_thinker(tmp_path, family, architecture, model_type):
    """Qwen2.5-Omni / Qwen3-Omni as published: thinker, talker and vocoder in one checkpoint (``thinker.*``,
    ``talker.*``), the thinker's config inside the outer one (its LM head untied, where the text config's default
    ties it). Served as the thinker's language model, equal to transformers' thinker."""
    import shutil

    from safetensors.torch import load_file, save_file

    torch.manual_seed(0)
    tokenizer = build_tokenizer("qwen3")
    vocab = (len(tokenizer) + 63) // 64 * 64
    thinker = BUILDERS[family](vocab).eval()
    thinker.save_pretrained(tmp_path / "thinker")
    tokenizer.save_pretrained(tmp_path / "thinker")
    whole = tmp_path / "whole"
    shutil.copytree(tmp_path / "thinker", whole)
    tensors = {"thinker." + name: t for name, t in load_file(str(whole / "model.safetensors")).items()}
    tensors["talker.model.layers.0.self_attn.q_proj.weight"] = torch.randn(8, 8)  # not read
    save_file(tensors, str(whole / "model.safetensors"), metadata={"format": "pt"})
    inner = json.loads((whole / "config.json").read_text())
    (whole / "config.json").write_text(json.dumps({"architectures": [architecture], "model_type": model_type,
                                                   "thinker_config": inner, "enable_audio_output": False}))
    w = worker(whole, multi_item_scoring_delimiter=delimiter_id(whole))
    assert type(w.model).__name__ == SERVED_AS[family][0]
    query, items = mixed_inputs(seed=2)
    single, mis = score_both_ways(w, query, items, LABELS)
    ref = torch.tensor(_reference(thinker, query, items, LABELS))
    torch.testing.assert_close(torch.tensor(single), ref, atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), ref, atol=1e-4, rtol=0)
