"""Runtime: the main process's side of a running model, shared by the two front ends (HTTP and Engine).

Given the scheduler processes (started by early_start.start_runtime), builds the tokenizer manager
that talks to them, then the serving layer that gives each API its meaning (with the scorer for
this kind of model, picked here, once), and waits for the models to be loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from multiscore.configs.model_config import ModelConfig
from multiscore.entrypoints.serving.classify import ClassifyServing
from multiscore.entrypoints.serving.embed import EmbedServing
from multiscore.entrypoints.serving.scorers import pick_scorer
from multiscore.entrypoints.serving.scores import ScoreServing
from multiscore.entrypoints.serving.tei import TeiServing
from multiscore.server_args import ServerArgs
from multiscore.tokenizer.pair_tokenizer import PairTokenizer
from multiscore.tokenizer.replicas import ReplicaSet
from multiscore.tokenizer.score_template import ScoreTemplate
from multiscore.tokenizer.tokenizer_manager import TokenizerManager


@dataclass
class Runtime:
    """Everything a front end needs: config, the scheduler process, the tokenizer manager, and the
    serving objects its routes (or Engine's methods) call."""

    server_args: ServerArgs
    model_config: ModelConfig
    scheduler: ReplicaSet  # the model replicas (one unless --dp-size)
    tokenizer_manager: TokenizerManager
    scores: ScoreServing  # SGLang /v1/score, vLLM /score, rerank
    classify: ClassifyServing
    embed: EmbedServing  # /v1/embeddings, /pooling
    tei: TeiServing  # text-embeddings-inference's routes

    @classmethod
    def start(cls, server_args: ServerArgs, replicas: ReplicaSet) -> "Runtime":
        """Returns once the model is loaded; raises ValueError/RuntimeError with the reason otherwise
        (and stops ``replicas``).

        ``replicas``: the model processes, started by the caller before its own imports
        (early_start.start_runtime); they load the model while this process reads the config and
        the tokenizer."""
        tm = None
        try:
            model_config = ModelConfig.from_server_args(server_args)  # bad path / architecture fail here, fast
            tm = TokenizerManager(server_args, model_config, replicas=replicas)
            pairs = PairTokenizer(tm.tokenizer, _score_template(server_args, model_config, tm.tokenizer))
            scorer = pick_scorer(tm, pairs, model_config, mis=server_args.mis_enabled)
            classify = ClassifyServing(tm, model_config)
            scores, embed = ScoreServing(scorer, model_config), EmbedServing(tm, model_config, classify, scorer)
            serving = (scores, classify, embed, TeiServing(tm, model_config, pairs, scores, embed))
            replicas.wait_ready()
        except BaseException:
            if tm is not None:
                tm.close()
            replicas.shutdown()
            raise
        return cls(server_args, model_config, replicas, tm, *serving)

    def shutdown(self) -> None:
        self.tokenizer_manager.close()
        self.scheduler.shutdown()


def _score_template(server_args: ServerArgs, model_config: ModelConfig, tokenizer) -> Optional[ScoreTemplate]:
    """--score-template, else --chat-template, the built-in Qwen3-Reranker prompt for
    ``is_original_qwen3_reranker``, the model's own (jina-reranker-m0's), or a sentence-transformers 6
    CrossEncoder's chat template."""
    name = server_args.score_template
    if name is None and model_config.chat_template is not None:  # vLLM's --chat-template is its score template too
        return ScoreTemplate(model_config.chat_template, tokenizer, "--chat-template")
    if name is None and model_config.is_original_qwen3_reranker:
        name = "qwen3_reranker"
    if name is None:  # the model's own format (jina-reranker-m0's)
        name = model_config.default_score_template
    if name:
        return ScoreTemplate.load(name, tokenizer)
    if model_config.head_conversion is not None:  # a sentence-transformers CrossEncoder's own, if it has one
        return ScoreTemplate.from_sentence_transformers(model_config.path, tokenizer)
    return None
