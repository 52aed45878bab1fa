"""FlagEmbedding's layerwise rerankers (bge-reranker-v2-minicpm-layerwise, bge-reranker-v2.5-gemma2-lightweight)
carry a one-output relevance head after every ``layer_sep``-th layer from ``start_layer`` to the last; a
server reads one of them, the cut ``c`` (FlagEmbedding's ``cutoff_layers``, default the last layer), and
builds and runs only the first ``c`` layers."""

from __future__ import annotations


def cut_layer(hf_config, depth: int, start: int, sep: int = 1) -> int:
    """``hf_config.cutoff_layers`` (an int, a one-element list, or None for ``depth``) -> the cut layer;
    a ValueError that names the layers with a head for any other."""
    cutoff = getattr(hf_config, "cutoff_layers", None)
    cutoff = [depth] if cutoff is None else cutoff if isinstance(cutoff, (list, tuple)) else [cutoff]
    if len(cutoff) != 1 or not isinstance(cutoff[0], int) or isinstance(cutoff[0], bool):
        raise ValueError(f"cutoff_layers must be one layer number (a server scores at one layer), got {cutoff!r}")
    layer = cutoff[0]
    if not start <= layer <= depth or (layer - start) % sep:
        every = f", every {sep}" if sep > 1 else ""
        raise ValueError(f"cutoff_layers {layer} is outside the layers with a head, {start} to {depth}{every}")
    return layer
