"""``python -m multiscore.launch_server --model-path DIR [...]``: the HTTP scoring server (also
``multiscore serve DIR [...]``, vLLM's form; SGLang's, vLLM's, TEI's and Infinity's flags are accepted)."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time

from multiscore.entrypoints import infinity_args, sglang_args, tei_args, vllm_args
from multiscore.server_args import ServerArgs


_DEATH_GRACE_S = 3.0  # after the model process dies: 503s for this long, then exit 1


def _graceful_server_class():
    import uvicorn

    class GracefulServer(uvicorn.Server):
        """uvicorn re-raises SIGINT/SIGTERM after its shutdown, killing the process before our own
        clean-up runs; we stop serving, shut the scheduler down, and exit 0 instead."""

        def handle_exit(self, sig, frame) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    return GracefulServer


def parse_args(argv=None, prog: str = "python -m multiscore.launch_server") -> argparse.Namespace:
    """Our flags, SGLang's, vLLM's, TEI's and Infinity's, and Infinity's INFINITY_* environment variables
    (argparse exits on a malformed one)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv = infinity_args.env_flags(argv) + argv
    except ValueError as e:
        parser.error(str(e))
    ServerArgs.add_cli_args(parser)
    sglang_args.add_cli_args(parser)
    vllm_args.add_cli_args(parser)
    tei_args.add_cli_args(parser)
    infinity_args.add_cli_args(parser)
    return parser.parse_args(argv)


def server_args_from(ns: argparse.Namespace) -> ServerArgs:
    """The parsed flags checked and folded into ours (ValueError naming the flag otherwise)."""
    sglang_args.note_cli_args(ns)
    vllm_args.apply_cli_args(ns)
    tei_args.apply_cli_args(ns)
    infinity_args.apply_cli_args(ns)
    return ServerArgs.from_cli_args(ns)


def main(argv=None, prog: str = "python -m multiscore.launch_server") -> int:
    ns = parse_args(argv, prog)
    logging.basicConfig(level=ns.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        server_args = server_args_from(ns)
        from multiscore.entrypoints.early_start import start_runtime

        runtime = start_runtime(server_args, "uvicorn", "multiscore.entrypoints.http_server")
        import uvicorn

        from multiscore.entrypoints.http_server import create_app
        from multiscore.gc_heap import freeze_after_start
    except (ValueError, RuntimeError) as e:
        print(f"multiscore: error: {e}", file=sys.stderr)
        return 1
    try:
        app = create_app(runtime)
        freeze_after_start(server_args.disable_gc_freeze, "server process")
        print(f"multiscore: serving {server_args.model_name} on http://{server_args.host}:{server_args.port}",
              file=sys.stderr, flush=True)
        config = uvicorn.Config(app, host=server_args.host, port=server_args.port, http=server_args.http,
                                loop=server_args.loop, log_level=server_args.log_level, access_log=False)
        server = _graceful_server_class()(config)
        died = threading.Event()
        threading.Thread(target=_watch_scheduler, args=(runtime, server, died), daemon=True).start()
        server.run()
    finally:
        runtime.shutdown()
    if died.is_set():
        print("multiscore: error: the scheduler (model) process died; the server stopped", file=sys.stderr)
        return 1
    return 0


def _watch_scheduler(runtime, server, died: threading.Event) -> None:
    """If the model process dies, keep answering 503 for a moment (in-flight callers get their
    error), then stop the server so that launch_server exits non-zero and a supervisor restarts it."""
    while not server.should_exit:
        if not runtime.scheduler.is_alive():
            died.set()
            logging.getLogger(__name__).error("the scheduler process died; stopping in %.0f s", _DEATH_GRACE_S)
            time.sleep(_DEATH_GRACE_S)
            server.should_exit = True
            return
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
