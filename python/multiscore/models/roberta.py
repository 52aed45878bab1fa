"""RoBERTa encoders (``RobertaModel``, ``RobertaForSequenceClassification``): XLM-R's architecture
(XLM-R is RoBERTa trained on more languages), the same parameter names, positions after the
padding index and classifier head; only the tokenizer differs, and it lives in the main process.
CamemBERT (French: sentence-camembert, CamemBERT cross-encoders) is the same again, under its own
class names and model_type ``camembert``; its checkpoints name the backbone ``roberta.`` too."""

from multiscore.models.xlm_roberta import (
    XLMRobertaForSequenceClassification,
    XLMRobertaForTokenClassification,
    XLMRobertaModel,
)


class RobertaModel(XLMRobertaModel):
    pass


class RobertaForSequenceClassification(XLMRobertaForSequenceClassification):
    pass


class RobertaForTokenClassification(XLMRobertaForTokenClassification):
    pass


class CamembertModel(XLMRobertaModel):
    pass


class CamembertForSequenceClassification(XLMRobertaForSequenceClassification):
    pass


class CamembertForTokenClassification(XLMRobertaForTokenClassification):
    pass
