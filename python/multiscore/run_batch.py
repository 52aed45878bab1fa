"""``python -m multiscore.run_batch -i INPUT.jsonl -o OUTPUT.jsonl [--resume] [server flags]``:
offline batch scoring in OpenAI's / vLLM's batch format.

Each input line ``{"custom_id", "method": "POST", "url", "body"}`` goes to the route ``url`` names
(batch/batch_files.BATCH_URLS) through the server's own app, in process (no HTTP), so each output
line ``{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}`` carries the
body the online route returns. Many lines are in flight at once so they batch in the model. Lines
are appended as they finish (completion order); a killed run loses no finished line, and
``--resume`` skips the custom_ids already written. ``-i -`` / ``-o -``: stdin / stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

from multiscore.batch.batch_files import OutputFile, count_lines, finished_ids, iter_lines, line_key, output_line
from multiscore.batch.progress import Progress
from multiscore.entrypoints import sglang_args, tei_args, vllm_args
from multiscore.server_args import ServerArgs

_ITEM_FIELDS = ("items", "documents", "input", "text_2", "data_2", "texts")  # what a line's item count is read from


def _items(body: dict) -> int:
    for name in _ITEM_FIELDS:
        value = body.get(name)
        if isinstance(value, list):
            return len(value)
    return 1


async def _run(app, lines, out: OutputFile, progress: Progress, concurrency: int) -> tuple[int, int]:
    """Send the lines, at most ``concurrency`` in flight; -> (lines run, lines that did not succeed)."""
    from multiscore.batch.asgi_call import call_app

    counts = {"run": 0, "failed": 0}
    gate = asyncio.Semaphore(concurrency)

    async def one(line):
        try:
            if line.problem is not None:
                record = output_line(line.custom_id, None, None, {"code": 400, "message": line.problem})
            else:
                status, raw, _ = await call_app(app, "POST", line.url, json.dumps(line.body).encode())
                body = json.loads(raw) if raw else None
                error = None
                if status != 200:
                    message = body.get("message") if isinstance(body, dict) else None
                    error = {"code": status, "message": message or raw.decode(errors="replace")}
                record = output_line(line.custom_id, status, body, error)
            counts["run"] += 1
            counts["failed"] += record["error"] is not None
            out.write(record)  # the event loop runs one callback at a time: writes never interleave
            progress.advance(_items(line.body) if line.body else 0)
        finally:
            gate.release()

    tasks = set()
    for line in lines:
        await gate.acquire()  # read on only when a slot is free
        task = asyncio.create_task(one(line))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    return counts["run"], counts["failed"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m multiscore.run_batch", description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--input", required=True, help="batch input JSONL file, or - for stdin")
    parser.add_argument("-o", "--output", required=True, help="output JSONL file, or - for stdout")
    parser.add_argument("--resume", action="store_true", help="keep the output file and skip the custom_ids it has")
    parser.add_argument("--max-concurrency", type=int, default=64, help="lines in flight at once (default 64)")
    ServerArgs.add_cli_args(parser)
    sglang_args.add_cli_args(parser)
    vllm_args.add_cli_args(parser)
    tei_args.add_cli_args(parser)
    ns = parser.parse_args(argv)
    logging.basicConfig(level=ns.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if ns.resume and ns.output == "-":
        print("multiscore.run_batch: error: --resume needs an output file, not stdout", file=sys.stderr)
        return 2
    if ns.max_concurrency < 1:
        print("multiscore.run_batch: error: --max-concurrency must be >= 1", file=sys.stderr)
        return 2
    done = finished_ids(ns.output) if ns.resume else set()
    todo = (line for line in iter_lines(ns.input) if line_key(line.custom_id, {"message": line.problem}) not in done)
    try:
        sglang_args.note_cli_args(ns)
        vllm_args.apply_cli_args(ns)
        tei_args.apply_cli_args(ns)
        from multiscore.entrypoints.early_start import start_runtime

        runtime = start_runtime(ServerArgs.from_cli_args(ns), "multiscore.entrypoints.http_server")
        from multiscore.entrypoints.http_server import create_app
        from multiscore.gc_heap import freeze_after_start
    except (ValueError, RuntimeError) as e:
        print(f"multiscore.run_batch: error: {e}", file=sys.stderr)
        return 1
    out = OutputFile(ns.output, append=ns.resume)
    try:
        progress = Progress(count_lines(ns.input), already=len(done))
        app = create_app(runtime)
        freeze_after_start(runtime.server_args.disable_gc_freeze, "batch runner")
        run, failed = asyncio.run(_run(app, todo, out, progress, ns.max_concurrency))
    finally:
        out.close()
        runtime.shutdown()
    print(f"multiscore.run_batch: {run} lines run ({len(done)} already done), {failed} with errors", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
