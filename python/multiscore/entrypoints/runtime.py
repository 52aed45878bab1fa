"""Runtime: the main process's side of a running model, shared by the two front ends (HTTP and Engine).

Starts the scheduler process, then the tokenizer manager that talks to it, then the serving layer
that gives each API its meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

from multiscore.configs.model_config import ModelConfig
from multiscore.entrypoints.serving.score_service import ScoreService
from multiscore.server_args import ServerArgs
from multiscore.tokenizer.scheduler_process import SchedulerProcess
from multiscore.tokenizer.tokenizer_manager import TokenizerManager


@dataclass
class Runtime:
    """Everything a front end (HTTP or Engine) needs: config, scheduler process, tokenizer manager."""

    server_args: ServerArgs
    model_config: ModelConfig
    scheduler: SchedulerProcess
    tokenizer_manager: TokenizerManager
    score_service: ScoreService

    @classmethod
    def start(cls, server_args: ServerArgs) -> "Runtime":
        """Returns once the model is loaded; raises ValueError/RuntimeError with the reason otherwise."""
        model_config = ModelConfig.from_server_args(server_args)  # bad path / architecture fail here, fast
        scheduler = SchedulerProcess(server_args)
        try:
            tokenizer_manager = TokenizerManager(
                server_args, model_config, scheduler.ipc.requests, scheduler.ipc.results, scheduler.is_alive
            )
            score_service = ScoreService(tokenizer_manager)
        except BaseException:
            scheduler.shutdown()
            raise
        return cls(server_args, model_config, scheduler, tokenizer_manager, score_service)

    def shutdown(self) -> None:
        self.tokenizer_manager.close()
        self.scheduler.shutdown()
