"""``multiscore serve MODEL [flags]``: the server, in vLLM's form (``vllm serve MODEL [flags]``), so a
vLLM launch command changes in its first word only; ``multiscore run-batch -i IN -o OUT --model MODEL``:
offline batch scoring (vLLM's ``run-batch``). Also ``python -m multiscore ...``."""

from __future__ import annotations

import sys

USAGE = """usage: multiscore serve MODEL [flags]       the HTTP server (flags: python -m multiscore.launch_server --help)
       multiscore run-batch -i IN -o OUT [flags]  batch scoring (flags: python -m multiscore.run_batch --help)"""


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "serve":
        from multiscore import launch_server

        if rest and not rest[0].startswith("-"):  # the model, as vllm serve takes it
            rest = ["--model-path", rest[0], *rest[1:]]
        return launch_server.main(rest, prog="multiscore serve")
    if command == "run-batch":
        from multiscore import run_batch

        return run_batch.main(rest)
    print(f"multiscore: error: unknown command {command!r}\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
