"""``python -m multiscore.launch_server --model-path DIR [...]``: the HTTP scoring server."""

from __future__ import annotations

import argparse
import logging
import sys

from multiscore.server_args import ServerArgs


def _graceful_server_class():
    import uvicorn

    class GracefulServer(uvicorn.Server):
        """uvicorn re-raises SIGINT/SIGTERM after its shutdown, killing the process before our own
        clean-up runs; we stop serving, shut the scheduler down, and exit 0 instead."""

        def handle_exit(self, sig, frame) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    return GracefulServer


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m multiscore.launch_server", description=__doc__)
    ServerArgs.add_cli_args(parser)
    ns = parser.parse_args(argv)
    logging.basicConfig(level=ns.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        server_args = ServerArgs.from_cli_args(ns)
        import uvicorn

        from multiscore.entrypoints.engine import Runtime
        from multiscore.entrypoints.http_server import create_app

        runtime = Runtime.start(server_args)
    except (ValueError, RuntimeError) as e:
        print(f"multiscore: error: {e}", file=sys.stderr)
        return 1
    try:
        app = create_app(runtime)
        print(f"multiscore: serving {server_args.model_name} on http://{server_args.host}:{server_args.port}",
              file=sys.stderr, flush=True)
        config = uvicorn.Config(app, host=server_args.host, port=server_args.port,
                                log_level=server_args.log_level, access_log=False)
        _graceful_server_class()(config).run()
    finally:
        runtime.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
