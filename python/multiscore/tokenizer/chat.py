"""Chat ``messages`` as an input (vLLM's chat forms of /classify, /v1/embeddings, /pooling and
/tokenize): rendered to one prompt by the tokenizer's chat template, then tokenized."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class ChatInput:
    messages: list[dict]  # {"role": ..., "content": str or [{"type": "text", "text": ...}, ...]}
    add_generation_prompt: bool = False
    continue_final_message: bool = False
    chat_template: Optional[str] = None  # overrides the tokenizer's
    chat_template_kwargs: dict = field(default_factory=dict)


def render_chat(tokenizer, chat: ChatInput) -> str:
    if chat.add_generation_prompt and chat.continue_final_message:
        raise ValueError("Cannot set both `continue_final_message` and `add_generation_prompt` to True.")
    if not chat.messages:
        raise ValueError("'messages' must not be empty")
    if chat.chat_template is None and not getattr(tokenizer, "chat_template", None):
        raise ValueError("this model's tokenizer has no chat template: give 'chat_template' in the request")
    messages = [{**m, "content": _text_of(m.get("content"), i)} for i, m in enumerate(chat.messages)]
    try:
        return tokenizer.apply_chat_template(
            messages, chat_template=chat.chat_template, tokenize=False, add_generation_prompt=chat.add_generation_prompt,
            continue_final_message=chat.continue_final_message, **chat.chat_template_kwargs,
        )
    except Exception as e:  # a template can raise anything; it is the request's template or messages
        raise ValueError(f"the chat template failed to render: {type(e).__name__}: {e}") from None


def _text_of(content, index: int) -> str:
    """A message's content: a string, or OpenAI's content parts (text parts only, joined by newlines)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise ValueError(f"message {index}: only text content parts are supported")
            texts.append(part["text"])
        return "\n".join(texts)
    raise ValueError(f"message {index}: 'content' must be a string or a list of text parts")
