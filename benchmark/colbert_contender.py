"""pylate's side of bench_colbert.py, run by pylate's own venv (test/reference/setup.sh).

Loads the ColBERT checkpoint, reranks once to warm up, then ``--repeats`` times the way pylate's
documentation reranks: ``encode`` the query (``is_query=True``) and the documents
(``is_query=False``), then ``pylate.rank.rerank``. Prints one JSON line
``{"seconds": [...], "scores": [...], "versions": {...}}`` (scores in document order, last run).

    .venv-reference/bin/python benchmark/colbert_contender.py --model DIR --inputs inputs.json --repeats 5
"""

from __future__ import annotations

import argparse
import json

from bench_common import timed_runs  # this folder: the script's own, first on sys.path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--inputs", required=True, help='JSON {"query": str, "documents": [str]}')
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32, help="pylate's encode batch (its default)")
    args = p.parse_args()

    import pylate
    import torch
    from pylate import models, rank

    inputs = json.loads(open(args.inputs).read())
    query, documents = inputs["query"], inputs["documents"]
    model = models.ColBERT(args.model, device="cpu")

    def rerank() -> list[float]:
        q = model.encode([query], is_query=True, batch_size=args.batch_size, show_progress_bar=False)
        d = model.encode([documents], is_query=False, batch_size=args.batch_size, show_progress_bar=False)
        ranked = rank.rerank(documents_ids=[list(range(len(documents)))], queries_embeddings=q, documents_embeddings=d)[0]
        by_id = {r["id"]: float(r["score"]) for r in ranked}
        return [by_id[i] for i in range(len(documents))]

    seconds, scores = timed_runs(rerank, args.repeats)
    print(json.dumps({"seconds": seconds, "scores": scores,
                      "versions": {"pylate": pylate.__version__, "torch": torch.__version__,
                                   "threads": torch.get_num_threads()}}))


if __name__ == "__main__":
    main()
