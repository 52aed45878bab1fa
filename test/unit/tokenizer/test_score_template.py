"""Score templates: rendered as vLLM renders them (by the tokenizer's apply_chat_template), the
prompts MIS packs token for token equal to each pair's whole prompt, and the errors users see."""

from __future__ import annotations

import pytest

from make_tiny_model import build_tokenizer
from multiscore.tokenizer.pair_tokenizer import PairTokenizer
from multiscore.tokenizer.score_template import BUILTIN_TEMPLATES, ScoreTemplate

BASIC = "Query: {{ messages[0]['content'] }}\nDocument: {{ messages[1]['content'] }}"
TOK = build_tokenizer("llama")  # adds a BOS, as Gemma's tokenizer does


def test_basic_template_renders_roles():
    assert ScoreTemplate(BASIC, TOK).render("q?", "d.") == "Query: q?\nDocument: d."


def test_rendering_follows_vllm_trimmed_blocks_and_one_trailing_newline_dropped():
    source = "{% if instruction %}I: {{ instruction }}{% endif %}\nQ: {{ messages[0].content }} D: {{ messages[1].content }}\n"
    template = ScoreTemplate(source, TOK)
    assert template.render("a", "b") == "Q: a D: b"  # the newline after {% endif %} and the last one go
    assert template.render("a", "b", {"instruction": "x"}) == "I: xQ: a D: b"
    # The same text vLLM gets from the tokenizer for its score templates.
    messages = [{"role": "query", "content": "a"}, {"role": "document", "content": "b"}]
    assert template.render("a", "b") == TOK.apply_chat_template(messages, chat_template=source, tokenize=False)


def test_qwen3_reranker_prompt_format():
    text = ScoreTemplate.load("qwen3_reranker", TOK).render("what is x", "x is y")
    assert text.startswith("<|im_start|>system\nJudge whether the Document meets the requirements")
    assert "<Instruct>: Given a web search query, retrieve relevant passages that answer the query\n" in text
    assert "<Query>: what is x\n<Document>: x is y<|im_end|>\n<|im_start|>assistant\n" in text
    assert text.endswith("<think>\n\n</think>\n\n")


def test_instruction_replaces_the_default():
    template = ScoreTemplate.load("qwen3_reranker", TOK)
    assert "<Instruct>: find cats\n" in template.render("q", "d", {"instruction": "find cats"})


def test_load_from_file(tmp_path):
    path = tmp_path / "t.jinja"
    path.write_text(BASIC)
    assert ScoreTemplate.load(str(path), TOK).render("a", "b") == "Query: a\nDocument: b"


@pytest.mark.parametrize("arch", ["llama", "qwen2"])  # WordLevel with a BOS; byte-level BPE
@pytest.mark.parametrize("source", [BASIC, BUILTIN_TEMPLATES["qwen3_reranker"], "{{ messages[1].content }}!{{ messages[0].content }}"])
def test_pairs_are_each_prompt_tokenized_whole(arch, source):
    tok = build_tokenizer(arch)
    pairs = PairTokenizer(tok, ScoreTemplate(source, tok))
    docs = ["the cat", "the dog, the cat", "", "Sacramento is the capital"]
    query_ids, items_ids = pairs.decoder_pairs("what is the capital ?", docs)
    for doc, item in zip(docs, items_ids):
        assert query_ids + item == tok(pairs.template.render("what is the capital ?", doc))["input_ids"]
    # Everything before the document is shared (but its last token or so, which may merge with it).
    head = pairs.template.render("what is the capital ?", "\x00").split("\x00")[0]
    assert len(query_ids) >= len(tok(head)["input_ids"]) - 1


def test_truncation_shortens_only_the_document():
    pairs = PairTokenizer(TOK, ScoreTemplate(BASIC, TOK))
    full_q, full_items = pairs.decoder_pairs("the query", ["a b c d e f", "a"])
    query_ids, items_ids = pairs.decoder_pairs("the query", ["a b c d e f", "a"], keep=len(full_q) + len(full_items[1]) + 2)
    assert [len(query_ids + it) for it in items_ids] == [len(full_q) + len(full_items[1]) + 2, len(full_q) + len(full_items[1])]
    capped_q, capped = pairs.decoder_pairs("the query", ["a b c d e f"], max_doc_tokens=2)
    assert capped_q + capped[0] == TOK(pairs.template.render("the query", "a b"))["input_ids"]
    with pytest.raises(ValueError, match="leaving no room for a document"):
        pairs.decoder_pairs("the query", ["a b"], keep=2)


@pytest.mark.parametrize(
    "source, message",
    [
        ("Document: {{ messages[1]['content'] }}", "never uses the query"),
        ("{% if %}", "not valid Jinja"),
        ("{{ messages[0]['content'] }}", "never uses the document"),
    ],
)
def test_bad_templates_are_rejected_with_a_reason(source, message):
    with pytest.raises(ValueError, match=message):
        ScoreTemplate(source, TOK, "bad.jinja")


def test_unknown_template_name():
    with pytest.raises(ValueError, match="neither a file nor a built-in template"):
        ScoreTemplate.load("/no/such/template.jinja", TOK)


def test_template_errors_at_render_are_value_errors():
    template = ScoreTemplate("{{ messages[0]['content'] }}{{ messages[1]['content'] }}{{ 1 // (messages[1]['content'] | length) }}", TOK)
    with pytest.raises(ValueError, match="failed to render: ZeroDivisionError"):
        template.render("q", "")


def _write_st(tmp_path, modality: dict, prompts: dict, default=None, kwargs=None):
    import json

    config = {"transformer_task": "text-generation", "modality_config": modality}
    if kwargs:
        config["processing_kwargs"] = {"chat_template": kwargs}
    (tmp_path / "sentence_bert_config.json").write_text(json.dumps(config))
    (tmp_path / "config_sentence_transformers.json").write_text(json.dumps(
        {"model_type": "CrossEncoder", "prompts": prompts, "default_prompt_name": default}))
    return str(tmp_path)


def test_a_sentence_transformers_cross_encoders_template(tmp_path):
    """Message mode: the tokenizer's chat template, the default prompt as a system message (a
    request's instruction instead), the saved arguments; text mode: no template, and no prompt."""
    import copy

    tok = copy.deepcopy(TOK)
    tok.chat_template = "{% for m in messages %}{{ m.role }}={{ m.content }};{% endfor %}{% if add_generation_prompt %}A{% endif %}"
    message = {"text": {}, "message": {"format": "flat"}}
    path = _write_st(tmp_path, message, {"query": "judge"}, default="query", kwargs={"add_generation_prompt": True,
                                                                                     "restore_suffix": True})
    template = ScoreTemplate.from_sentence_transformers(path, tok)
    assert template.render("q", "d") == "system=judge;query=q;document=d;A"
    assert template.render("q", "d", {"instruction": "other"}) == "system=other;query=q;document=d;A"
    assert not template.add_special_tokens
    no_prompt = ScoreTemplate.from_sentence_transformers(_write_st(tmp_path, message, {}), tok)
    assert no_prompt.render("q", "d") == "query=q;document=d;"
    assert ScoreTemplate.from_sentence_transformers(_write_st(tmp_path, {"text": {}}, {}), tok) is None
    with pytest.raises(ValueError, match="puts its prompt before the query text"):
        ScoreTemplate.from_sentence_transformers(_write_st(tmp_path, {"text": {}}, {"query": "judge"}, "query"), tok)
