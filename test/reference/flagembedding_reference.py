"""BGE-M3's reference: FlagEmbedding's ``BGEM3FlagModel``, run from the reference venv
(test/reference/setup.sh installs it beside pylate). Prints one JSON object to stdout:

    python test/reference/flagembedding_reference.py --model DIR --texts '["a", "b"]'
    -> {"dense": [[H]...], "lexical_weights": [{"token_id": weight}...], "colbert_vecs": [[[H]...]...],
        "lexical_score_0_1": float, "colbert_score_0_1": float}

fp32 on CPU; the scores are FlagEmbedding's own, of text 0 against text 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--texts", required=True, help="a JSON list of at least two strings")
    args = p.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)

    from FlagEmbedding import BGEM3FlagModel

    texts = json.loads(args.texts)
    model = BGEM3FlagModel(args.model, use_fp16=False, devices=["cpu"])
    out = model.encode(texts, return_dense=True, return_sparse=True, return_colbert_vecs=True)
    result = {
        "dense": [[float(x) for x in row] for row in out["dense_vecs"]],
        "lexical_weights": [{str(k): float(v) for k, v in w.items()} for w in out["lexical_weights"]],
        "colbert_vecs": [v.tolist() for v in out["colbert_vecs"]],
        "lexical_score_0_1": float(model.compute_lexical_matching_score(out["lexical_weights"][0], out["lexical_weights"][1])),
        "colbert_score_0_1": float(model.colbert_score(out["colbert_vecs"][0], out["colbert_vecs"][1])),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
