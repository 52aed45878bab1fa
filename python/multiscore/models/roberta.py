"""RoBERTa encoders (``RobertaModel``, ``RobertaForSequenceClassification``): XLM-R's architecture
(XLM-R is RoBERTa trained on more languages), the same parameter names, positions after the
padding index and classifier head; only the tokenizer differs, and it lives in the main process.
CamemBERT (French: sentence-camembert, CamemBERT cross-encoders) is the same again, under its own
class names and model_type ``camembert``; its checkpoints name the backbone ``roberta.`` too.
Data2Vec-Text (facebook/data2vec-text-base and its fine-tunes) is RoBERTa's architecture trained another
way: the same again, its backbone named ``data2vec_text.``. I-BERT (kssteven/ibert-roberta-*) without
``quant_mode`` computes RoBERTa in float (its integer kernels switched off): the same again under ``ibert.``, its
quantization tensors unused; ``quant_mode`` (integer-only arithmetic) is refused. LUKE and mLUKE (studio-ousia/luke-*,
mluke-*, luke-japanese-* and their fine-tunes) on words alone, as transformers computes them without ``entity_ids``:
RoBERTa's layers under ``luke.`` (their entity embeddings and entity-aware queries unread); its classifier reads
BERT's tanh pooler."""

from multiscore.models.base import PooledClassifier
from multiscore.models.bert import BERT_PACKED_MODULES
from multiscore.models.xlm_roberta import (
    XLMRobertaBackbone,
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


class LukeModel(XLMRobertaModel):
    weight_prefix_aliases = {"luke.": "model.", **XLMRobertaModel.weight_prefix_aliases}


class LukeForSequenceClassification(PooledClassifier):
    """``luke.*`` (RoBERTa's layers, BERT's pooler) + ``classifier``: logits = classifier(pooler(<s>))."""

    packed_modules_mapping = BERT_PACKED_MODULES
    backbone_name = "luke"

    @staticmethod
    def make_backbone(config):
        return XLMRobertaBackbone(config, add_pooler=True)


class LukeForTokenClassification(XLMRobertaForTokenClassification):
    weight_prefix_aliases = {"luke.": "roberta."}
