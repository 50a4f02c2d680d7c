"""How late paced emissions leave against their scheduled wall time: a bounded, mergeable histogram."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

#: bucket ``k`` holds lateness in ``[EDGE_S[k-1], EDGE_S[k])``; 20 buckets per decade from 10 us to 1000 s
_PER_DECADE = 20
_LOW_S = 1e-5
_DECADES = 8
BUCKETS = _PER_DECADE * _DECADES + 2  # + one below the lowest edge, + one above the highest


def _bucket(late_s: float) -> int:
    if late_s < _LOW_S:
        return 0
    k = int(math.log10(late_s / _LOW_S) * _PER_DECADE) + 1
    return min(k, BUCKETS - 1)


def bucket_upper_s(k: int) -> float:
    """Upper edge of bucket ``k`` [s] (the highest bucket reports the largest value seen instead)."""
    return _LOW_S * 10 ** (k / _PER_DECADE)


@dataclass
class Lateness:
    """Counts of emission lateness [s] in log-spaced buckets (about 12 % wide), plus the exact maximum."""

    counts: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    max_s: float = 0.0
    total: int = 0

    def record(self, late_s: float) -> None:
        late_s = max(late_s, 0.0)
        self.counts[_bucket(late_s)] += 1
        self.total += 1
        self.max_s = max(self.max_s, late_s)

    def merge(self, other: Lateness) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts)]
        self.total += other.total
        self.max_s = max(self.max_s, other.max_s)

    def quantile_s(self, q: float) -> float:
        """The ``q``-quantile [s], as the upper edge of its bucket (never above the maximum)."""
        if self.total == 0:
            return 0.0
        rank = q * self.total
        seen = 0
        for k, count in enumerate(self.counts):
            seen += count
            if seen >= rank and count:
                return self.max_s if k == BUCKETS - 1 else min(bucket_upper_s(k), self.max_s)
        return self.max_s

    def summary_ms(self) -> dict[str, float]:
        """p50, p99 and max [ms], rounded to 0.01 ms."""
        return {
            "p50_ms": round(self.quantile_s(0.5) * 1000, 2),
            "p99_ms": round(self.quantile_s(0.99) * 1000, 2),
            "max_ms": round(self.max_s * 1000, 2),
        }
