"""multiscore on Ray (the ``ray`` extra): Ray Data batch scoring and a Ray Serve application.

Ray Data, one Engine (model replica) per actor::

    ds = ds.map_batches(ScoreProcessor, fn_constructor_kwargs={"model_path": path, "task": "score"},
                        concurrency=4, batch_size=256)          # num_gpus=1 for a GPU each

Rows carry ``query`` + ``item`` (tasks ``score`` and ``rerank``) or ``text`` (``classify``,
``embed``); the processor adds ``score``, ``probs`` or ``embedding``. Rows of one batch that share a
query are scored in one request: one MIS pass when the engine runs MIS (and the query computed once
even without it). Ray Serve, the same HTTP routes as ``launch_server`` in every Serve replica::

    serve.run(build_app(model_path=path, device="cpu"))

Ray is imported only here; the same code runs on a multi-node cluster (``ray.init(address=...)``).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from multiscore.gc_heap import freeze_after_start

TASKS = ("score", "rerank", "classify", "embed")


class ScoreProcessor:
    """A callable class for ``Dataset.map_batches``: ``fn_constructor_kwargs`` = ``model_path``,
    ``task``, for ``score`` on a CausalLM ``label_token_ids``, and any ``Engine`` keyword argument."""

    def __init__(self, model_path: str, task: str = "score", label_token_ids: Optional[list[int]] = None,
                 **engine_kwargs) -> None:
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        from multiscore import Engine

        self.task, self.label_token_ids = task, label_token_ids
        self.engine = Engine(model_path=model_path, **engine_kwargs)
        freeze_after_start(self.engine.server_args.disable_gc_freeze, "Ray actor")  # the actor's own process

    def __call__(self, batch: dict) -> dict:
        """batch: columns of equal length (numpy arrays or lists) -> the same columns plus the result."""
        if self.task == "classify":
            return {**batch, "probs": [c.probs for c in self.engine.classify(_texts(batch["text"]))]}
        if self.task == "embed":
            return {**batch, "embedding": self.engine.embed(_texts(batch["text"]))}
        queries, items = _texts(batch["query"]), _texts(batch["item"])
        groups: dict[str, list[int]] = {}  # query -> its rows, in order: one request each
        for row, query in enumerate(queries):
            groups.setdefault(query, []).append(row)
        scores: list = [None] * len(queries)
        for query, rows in groups.items():
            for row, value in zip(rows, self._score(query, [items[r] for r in rows])):
                scores[row] = value
        return {**batch, "score": scores}

    def _score(self, query: str, items: list[str]) -> list:
        if self.task == "rerank":  # relevance with the model's activation, back in item order
            ranked = sorted(self.engine.rerank(query, items, return_documents=False), key=lambda r: r.index)
            return [r.relevance_score for r in ranked]
        rows = self.engine.score(query, items, label_token_ids=self.label_token_ids).scores
        return [row[0] if len(row) == 1 else row for row in rows]  # one label: a float per row

    def __del__(self) -> None:
        engine = getattr(self, "engine", None)
        if engine is not None:
            engine.shutdown()


def _texts(column) -> list[str]:
    return [str(x) for x in (column.tolist() if isinstance(column, np.ndarray) else column)]


class MultiscoreDeployment:
    """A Serve replica: the model (its own scheduler process) and the HTTP routes of launch_server,
    each Serve request passed to them in process."""

    def __init__(self, server_args: dict) -> None:
        from multiscore.entrypoints.early_start import start_runtime
        from multiscore.server_args import ServerArgs

        self.runtime = start_runtime(ServerArgs(**server_args), "multiscore.entrypoints.http_server")
        from multiscore.entrypoints.http_server import create_app
        self.app = create_app(self.runtime)
        freeze_after_start(self.runtime.server_args.disable_gc_freeze, "Serve replica")

    async def __call__(self, request):
        from starlette.responses import Response

        from multiscore.batch.asgi_call import call_app

        forwarded = tuple((k.encode(), v.encode()) for k, v in request.headers.items() if k.lower() == "authorization")
        status, body, headers = await call_app(self.app, request.method, request.url.path, await request.body(), forwarded)
        media = dict(headers).get(b"content-type", b"application/json").decode()
        return Response(body, status_code=status, media_type=media)

    def __del__(self) -> None:
        runtime = getattr(self, "runtime", None)
        if runtime is not None:
            runtime.shutdown()


def build_app(**server_args):
    """A Ray Serve application serving multiscore's HTTP routes: ``serve.run(build_app(model_path=...))``.
    Serve's own options (replicas, autoscaling, GPUs) go through ``.options`` on the deployment:
    ``serve.deployment(MultiscoreDeployment, num_replicas=2).bind(server_args)``."""
    from ray import serve

    return serve.deployment(MultiscoreDeployment, name="multiscore").bind(server_args)
