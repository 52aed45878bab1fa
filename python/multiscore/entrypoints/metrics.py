"""Prometheus metrics (``GET /metrics``): the HTTP side's counters, and the scheduler's read at scrape time.

Rates are left to Prometheus: ``rate(multiscore_request_tokens_total[1m])`` is tokens per second,
``rate(multiscore_request_items_total[1m])`` items per second.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from multiscore.messages import BATCH_SEQUENCE_EDGES, BATCH_TOKEN_EDGES, SchedulerStats

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ServerMetrics:
    """One registry per app (so several servers in one process, as in tests, do not collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("multiscore_requests", "HTTP requests by route and status", ["route", "status"], registry=r)
        self.latency = Histogram(
            "multiscore_request_latency_seconds", "HTTP request latency by route", ["route"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.items = Counter("multiscore_request_items", "items (documents, inputs) scored", ["route"], registry=r)
        self.tokens = Counter("multiscore_request_tokens", "prompt tokens forwarded", ["route"], registry=r)
        self.in_flight = Gauge("multiscore_requests_in_flight", "HTTP requests being served", registry=r)
        self.disconnects = Counter(
            "multiscore_client_disconnects", "requests whose client left before the answer (work dropped)", registry=r
        )

    def observe(self, route: str, status: int, seconds: float, items: int, tokens: int) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)
        if items:
            self.items.labels(route).inc(items)
        if tokens:
            self.tokens.labels(route).inc(tokens)

    def render(self, stats: SchedulerStats) -> bytes:
        return generate_latest(self.registry) + generate_latest(_SchedulerCollector(stats))


class _SchedulerCollector:
    """The scheduler process's counters at scrape time, as Prometheus metric families."""

    def __init__(self, stats: SchedulerStats) -> None:
        self.stats = stats

    def collect(self):
        s = self.stats
        for name, value, doc in (
            ("forward_passes", s.forward_passes, "forward passes run"),
            ("forward_tokens", s.forward_tokens, "tokens forwarded"),
            ("forward_sequences", s.forward_sequences, "sequences forwarded"),
            ("forward_seconds", s.forward_seconds, "seconds inside forward passes (wall time, outputs on the host)"),
            ("finished_requests", s.finished_requests, "requests answered by the scheduler"),
            ("aborted_requests", s.aborted_requests, "requests dropped after their caller left"),
            ("aborted_sequences", s.aborted_sequences, "queued sequences dropped by aborts"),
            ("prefix_cache_hits", s.prefix_cache_hits, "sequences that found part of their query cached"),
            ("prefix_cache_misses", s.prefix_cache_misses, "sequences that could have used the cache and found nothing"),
            ("prefix_cache_hit_tokens", s.prefix_cache_hit_tokens, "query tokens read from the cache instead of computed"),
            ("prefix_cache_query_tokens", s.prefix_cache_query_tokens, "cacheable query tokens seen"),
        ):
            yield CounterMetricFamily(f"multiscore_scheduler_{name}", doc, value=value)
        yield GaugeMetricFamily("multiscore_prefix_cache_tokens", "tokens held by the prefix cache", value=s.prefix_cache_tokens)
        yield GaugeMetricFamily("multiscore_prefix_cache_bytes", "bytes of keys and values held by the prefix cache",
                                value=s.prefix_cache_bytes)
        yield GaugeMetricFamily("multiscore_scheduler_queued_sequences", "sequences waiting for a forward pass",
                                value=s.queued_sequences)
        families = {
            "up": GaugeMetricFamily("multiscore_replica_up", "1 while the model replica serves", labels=["replica"]),
            "outstanding_tokens": GaugeMetricFamily("multiscore_replica_outstanding_tokens",
                                                    "tokens sent to the replica and not yet answered", labels=["replica"]),
            "forward_passes": CounterMetricFamily("multiscore_replica_forward_passes", "forward passes run by the replica",
                                                  labels=["replica"]),
        }
        for r in s.replicas:  # one per --dp-size replica
            label = [str(r["replica"])]
            families["up"].add_metric(label, 1 if r["alive"] else 0)
            families["outstanding_tokens"].add_metric(label, r["outstanding_tokens"])
            families["forward_passes"].add_metric(label, r.get("forward_passes", 0))
        yield from families.values()
        yield _histogram("multiscore_batch_tokens", "tokens per forward pass", BATCH_TOKEN_EDGES,
                         s.batch_tokens_counts, s.forward_tokens)
        yield _histogram("multiscore_batch_sequences", "sequences per forward pass", BATCH_SEQUENCE_EDGES,
                         s.batch_sequences_counts, s.forward_sequences)


def _histogram(name: str, doc: str, edges, counts: list, total: float) -> HistogramMetricFamily:
    cumulative, buckets = 0, []
    for edge, count in zip(list(edges) + ["+Inf"], counts):
        cumulative += count
        buckets.append((str(edge), cumulative))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=total)
