"""RoBERTa encoders (``RobertaModel``, ``RobertaForSequenceClassification``): XLM-R's architecture
(XLM-R is RoBERTa trained on more languages), the same parameter names, positions after the
padding index and classifier head; only the tokenizer differs, and it lives in the main process."""

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
