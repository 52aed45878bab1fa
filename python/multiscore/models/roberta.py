"""RoBERTa encoders (``RobertaModel``, ``RobertaForSequenceClassification``): XLM-R's architecture
(XLM-R is RoBERTa trained on more languages), the same parameter names, positions after the
padding index and classifier head; only the tokenizer differs, and it lives in the main process.
CamemBERT (French: sentence-camembert, CamemBERT cross-encoders) is the same again, under its own
class names and model_type ``camembert``; its checkpoints name the backbone ``roberta.`` too.
Data2Vec-Text (facebook/data2vec-text-base and its fine-tunes) is RoBERTa's architecture trained another
way: the same again, its backbone named ``data2vec_text.``. I-BERT (kssteven/ibert-roberta-*) without
``quant_mode`` computes RoBERTa in float (its integer kernels switched off): the same again under ``ibert.``, its
quantization tensors unused; ``quant_mode`` (integer-only arithmetic) is refused."""

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


# Data2Vec-Text: its backbone's tensors are ``data2vec_text.*`` where RoBERTa's are ``roberta.*``.
DATA2VEC_TEXT_PREFIX = {"data2vec_text.": "roberta."}


class Data2VecTextModel(XLMRobertaModel):
    weight_prefix_aliases = {"data2vec_text.": "model.", **XLMRobertaModel.weight_prefix_aliases}


class Data2VecTextForSequenceClassification(XLMRobertaForSequenceClassification):
    weight_prefix_aliases = DATA2VEC_TEXT_PREFIX


class Data2VecTextForTokenClassification(XLMRobertaForTokenClassification):
    weight_prefix_aliases = DATA2VEC_TEXT_PREFIX


class _IBert:
    @classmethod
    def adapt_config(cls, hf_config) -> None:
        if getattr(hf_config, "quant_mode", False):
            raise ValueError("I-BERT with quant_mode (integer-only arithmetic) is not supported: its float mode "
                             "(quant_mode false) is")


class IBertModel(_IBert, XLMRobertaModel):
    weight_prefix_aliases = {"ibert.": "model.", **XLMRobertaModel.weight_prefix_aliases}


class IBertForSequenceClassification(_IBert, XLMRobertaForSequenceClassification):
    weight_prefix_aliases = {"ibert.": "roberta."}


class IBertForTokenClassification(_IBert, XLMRobertaForTokenClassification):
    weight_prefix_aliases = {"ibert.": "roberta."}
