"""PEFT LoRA adapters of tiny checkpoints, made by PEFT itself, and PEFT's own scores as the reference."""

from __future__ import annotations

import pathlib


def make_lora_adapter(base, out, targets: list[str], r: int = 4, alpha: float = 8.0, seed: int = 0,
                      rslora: bool = False, task_type=None) -> pathlib.Path:
    """PEFT's LoRA on ``targets`` of the transformers checkpoint ``base``, B random (not PEFT's zeros,
    so the adapter changes the scores), saved to ``out`` as PEFT saves it. ``task_type`` "SEQ_CLS":
    the classifier head trained in full beside it (PEFT's modules_to_save), its weights changed here."""
    import torch
    from peft import LoraConfig, get_peft_model
    model = _load(base)
    config = LoraConfig(r=r, lora_alpha=alpha, target_modules=targets, use_rslora=rslora, init_lora_weights=False,
                        lora_dropout=0.0, task_type=task_type)
    torch.manual_seed(seed)
    peft_model = get_peft_model(model, config)
    with torch.no_grad():  # the trained head: other weights than the base model's
        for name, param in peft_model.named_parameters():
            if "modules_to_save" in name:
                param.add_(torch.randn(param.shape) * 0.5)
    peft_model.save_pretrained(str(out))
    return pathlib.Path(out)


def _load(path):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification

    arch = AutoConfig.from_pretrained(str(path)).architectures[0]
    cls = AutoModelForCausalLM if arch.endswith("ForCausalLM") else AutoModelForSequenceClassification
    return cls.from_pretrained(str(path), dtype=torch.float32).eval()


def peft_outputs(base, adapter, inputs: list[list[int]]):
    """The base model with ``adapter`` (None: without one), each input alone -> its logits: a causal LM's
    at the last token [V], a classifier's [C]."""
    import torch
    from peft import PeftModel

    model = _load(base)
    if adapter is not None:
        model = PeftModel.from_pretrained(model, str(adapter)).eval()
    with torch.no_grad():
        logits = [model(input_ids=torch.tensor([ids])).logits[0] for ids in inputs]
    return [x[-1] if x.dim() == 2 else x for x in logits]
