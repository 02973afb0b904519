"""Prometheus text exposition (format 0.0.4) of the server's counters, written by hand."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Sequence

LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Histogram:
    """Cumulative-bucket histogram.

    >>> h = Histogram("x_seconds", "x", (0.1, 1.0)); h.observe(0.5)
    >>> print(h.render())
    # HELP x_seconds x
    # TYPE x_seconds histogram
    x_seconds_bucket{le="0.1"} 0
    x_seconds_bucket{le="1.0"} 1
    x_seconds_bucket{le="+Inf"} 1
    x_seconds_sum 0.5
    x_seconds_count 1
    """

    def __init__(self, name: str, help: str, buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.name, self.help, self.buckets = name, help, tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value

    def render(self) -> str:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        total = 0
        for bound, count in zip((*self.buckets, None), self.counts, strict=True):
            total += count
            le = "+Inf" if bound is None else repr(float(bound))
            lines.append(f'{self.name}_bucket{{le="{le}"}} {total}')
        lines += [f"{self.name}_sum {self.sum!r}", f"{self.name}_count {total}"]
        return "\n".join(lines)


class Metrics:
    """The server's counters; `render()` is the /metrics body. Gauges are read when rendered."""

    def __init__(self, gauges: dict[str, tuple[str, Callable[[], float]]] | None = None) -> None:
        self.lock = threading.Lock()
        self.requests: dict[tuple[str, int], int] = {}
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.ttft = Histogram("toklm_time_to_first_token_seconds", "Time to first token.")
        self.tpot = Histogram(
            "toklm_time_per_output_token_seconds", "Time per output token after the first."
        )
        self.e2e = Histogram("toklm_e2e_request_latency_seconds", "End-to-end request latency.")
        self.gauges = gauges or {}

    def count_request(self, route: str, status: int) -> None:
        with self.lock:
            key = (route, status)
            self.requests[key] = self.requests.get(key, 0) + 1

    def count_generation(
        self, prompt: int, generated: int, ttft: float | None, total: float
    ) -> None:
        with self.lock:
            self.prompt_tokens += prompt
            self.generation_tokens += generated
            if ttft is not None:
                self.ttft.observe(ttft)
                if generated > 1:
                    self.tpot.observe((total - ttft) / (generated - 1))
            self.e2e.observe(total)

    def render(self) -> str:
        with self.lock:
            out = [
                "# HELP toklm_requests_total HTTP requests by route and status.",
                "# TYPE toklm_requests_total counter",
            ]
            for (route, status), n in sorted(self.requests.items()):
                out.append(f'toklm_requests_total{{route="{route}",status="{status}"}} {n}')
            for name, value, what in (
                ("toklm_prompt_tokens_total", self.prompt_tokens, "Prompt tokens processed."),
                ("toklm_generation_tokens_total", self.generation_tokens, "Tokens generated."),
            ):
                out += [f"# HELP {name} {what}", f"# TYPE {name} counter", f"{name} {value}"]
            for name, (what, read) in self.gauges.items():
                out += [f"# HELP {name} {what}", f"# TYPE {name} gauge", f"{name} {read()}"]
            out += [self.ttft.render(), self.tpot.render(), self.e2e.render()]
        return "\n".join(out) + "\n"
