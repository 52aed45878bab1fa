"""Score templates: rendering, the head/tail split MIS relies on, and the errors users see."""

from __future__ import annotations

import pytest

from multiscore.tokenizer.score_template import BUILTIN_TEMPLATES, ScoreTemplate

BASIC = "Query: {{ messages[0]['content'] }}\nDocument: {{ messages[1]['content'] }}"


@pytest.mark.parametrize("source", [BASIC, BUILTIN_TEMPLATES["qwen3_reranker"]])
@pytest.mark.parametrize("doc", ["", "a document", "multi\nline {{ not jinja }}"])
def test_split_reassembles_the_rendered_prompt(source, doc):
    template = ScoreTemplate(source)
    head, tail = template.split("the query")
    assert head + doc + tail == template.render("the query", doc)


def test_basic_template_renders_roles():
    assert ScoreTemplate(BASIC).render("q?", "d.") == "Query: q?\nDocument: d."


def test_qwen3_reranker_prompt_format():
    text = ScoreTemplate.load("qwen3_reranker").render("what is x", "x is y")
    assert text.startswith("<|im_start|>system\nJudge whether the Document meets the requirements")
    assert "<Instruct>: Given a web search query, retrieve relevant passages that answer the query\n" in text
    assert "<Query>: what is x\n<Document>: x is y<|im_end|>\n<|im_start|>assistant\n" in text
    assert text.endswith("<think>\n\n</think>\n\n")


def test_instruction_replaces_the_default():
    template = ScoreTemplate.load("qwen3_reranker")
    assert "<Instruct>: find cats\n" in template.render("q", "d", instruction="find cats")
    head, _ = template.split("q", instruction="find cats")
    assert "<Instruct>: find cats\n" in head


def test_load_from_file(tmp_path):
    path = tmp_path / "t.jinja"
    path.write_text(BASIC)
    assert ScoreTemplate.load(str(path)).render("a", "b") == "Query: a\nDocument: b"


@pytest.mark.parametrize(
    "source, message",
    [
        ("{{ messages[1]['content'] }} {{ messages[1]['content'] }} {{ messages[0]['content'] }}", "exactly once"),
        ("Document: {{ messages[1]['content'] }}", "never uses the query"),
        ("{% if %}", "not valid Jinja"),
        ("{{ messages[0]['content'] }}", "exactly once"),
    ],
)
def test_bad_templates_are_rejected_with_a_reason(source, message):
    with pytest.raises(ValueError, match=message):
        ScoreTemplate(source, "bad.jinja")


def test_unknown_template_name():
    with pytest.raises(ValueError, match="neither a file nor a built-in template"):
        ScoreTemplate.load("/no/such/template.jinja")


def test_template_errors_at_render_are_value_errors():
    template = ScoreTemplate("{{ messages[0]['content'] }}{{ messages[1]['content'] }}{{ 1 // (messages[1]['content'] | length) }}")
    with pytest.raises(ValueError, match="failed to render: ZeroDivisionError"):
        template.render("q", "")
