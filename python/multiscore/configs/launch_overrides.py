"""What vLLM's and TEI's launch flags change in the checkpoint's config, checked against it at
start-up: ``--convert`` (the architecture), ``--pooler-config``'s pooling type, TEI's
``--default-prompt-name`` / ``--default-prompt``, and ``--chat-template``'s text."""

from __future__ import annotations

import dataclasses
from typing import Optional

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.configs.seq_cls_conversion import HeadConversion
from multiscore.models.registry import supported_architectures
from multiscore.server_args import ServerArgs


def converted_architecture(architecture: str, convert: str, conversion: Optional[HeadConversion]) -> str:
    """vLLM's --convert: ``embed`` serves a ``*ForCausalLM`` as its bare ``*Model`` (an embedding model),
    ``classify`` as ``*ForSequenceClassification`` with a head built from its LM head rows."""
    if convert in ("auto", "none"):
        return architecture
    if not architecture.endswith("ForCausalLM"):
        already = architecture.endswith("Model") if convert == "embed" else "ForSequenceClassification" in architecture
        if not already:
            raise ValueError(f"--convert {convert} applies to a *ForCausalLM checkpoint; {architecture} is served as "
                             "it is")
        return architecture
    if convert == "classify" and conversion is None:
        raise ValueError("--convert classify builds a classifier from the LM head's rows: name them with --hf-overrides "
                         '\'{"classifier_from_token": ["no", "yes"], "method": "from_2_way_softmax"}\' (vLLM\'s keys)')
    family = architecture[: -len("ForCausalLM")]
    suffix = "Model" if convert == "embed" else "ForSequenceClassification"
    for name in (family + suffix, family + "Text" + suffix):  # Gemma3ForCausalLM -> Gemma3TextModel
        if name in supported_architectures():
            return name
    raise ValueError(f"--convert {convert}: {architecture} has no {suffix} counterpart here")


def with_pooling_type(pooling: Optional[PoolingConfig], kind: ModelKind, hf_config, pooling_type: Optional[str]):
    """--pooler-config's pooling type: an embedding model pools that way; a classifier accepts only
    the token its head reads."""
    if pooling_type is None:
        return pooling
    if kind.embeds and pooling is not None and pooling.mode in ("cls", "mean", "last"):
        return dataclasses.replace(pooling, mode=pooling_type)
    if kind in (ModelKind.DECODER_CLASSIFIER, ModelKind.ENCODER_CLASSIFIER):
        own = "last" if kind is ModelKind.DECODER_CLASSIFIER else getattr(hf_config, "classifier_pooling", "cls")
        if pooling_type == own:
            return pooling
        raise ValueError(f"--pooler-config pooling_type {pooling_type.upper()}: this classifier's head reads "
                         f"{own.upper()}, as its checkpoint was trained")
    raise ValueError(f"--pooler-config pooling_type applies to embedding models and classifiers, not to this "
                     f"{kind.value.replace('_', ' ')} model")


def with_default_prompt(pooling: Optional[PoolingConfig], args: ServerArgs) -> Optional[PoolingConfig]:
    """TEI's --default-prompt-name / --default-prompt over the checkpoint's default prompt."""
    if args.default_prompt_name is None and args.default_prompt is None:
        return pooling
    flag = "--default-prompt-name" if args.default_prompt_name is not None else "--default-prompt"
    if pooling is None or pooling.late_interaction is not None:
        raise ValueError(f"{flag}: prompts go before the texts of an embedding model, and this model is not one")
    if args.default_prompt is not None:
        return dataclasses.replace(pooling, default_prompt_name=None, default_prompt=args.default_prompt)
    pooling.prompt_text(args.default_prompt_name)  # an unknown name is refused here, at start-up
    return dataclasses.replace(pooling, default_prompt_name=args.default_prompt_name, default_prompt=None)


def read_chat_template(value: Optional[str]) -> Optional[str]:
    """--chat-template: a file's text, or the template itself (vLLM accepts both)."""
    if value is None:
        return None
    if any(c in value for c in "{}\n"):
        return value
    try:
        with open(value, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise ValueError(f"--chat-template {value!r}: not a readable file, nor a template ({e.strerror})") from None
