"""Start the model processes before this process's own imports, so that the two overlap.

A model process spends ~2.5 s importing torch and transformers before it loads the model; a front
end (launch_server, run_batch, a Ray Serve replica) spends as long importing the runtime, the HTTP
stack and torch itself. Started one after the other they add up. This module imports only the
light modules that start the processes (no torch, no FastAPI).
"""

from __future__ import annotations

import importlib

from multiscore.server_args import ServerArgs
from multiscore.tokenizer.replicas import ReplicaSet


def start_runtime(server_args: ServerArgs, *also_import: str):
    """``Runtime.start(server_args)``, with the model processes started first; ``also_import``: more
    of the caller's modules to import while they load. Raises what Runtime.start raises, and leaves
    no process behind when it does."""
    replicas = ReplicaSet(server_args)
    try:
        for module in also_import:
            importlib.import_module(module)
        from multiscore.entrypoints.runtime import Runtime
    except BaseException:
        replicas.shutdown()
        raise
    return Runtime.start(server_args, replicas)
