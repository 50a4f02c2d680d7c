"""How late paced emissions leave against their scheduled wall time: a bounded, mergeable histogram.

The histogram travels in run reports (``lateness_histogram``) and metrics snapshots as
:meth:`Lateness.to_dict`: the non-empty buckets by index, with the bucket scheme, so that the reports
of shards merge exactly (:meth:`Lateness.merge`) and their quantiles are recomputed, not averaged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

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
    """Counts of emission lateness [s] in log-spaced buckets (about 12 % wide), plus the exact maximum and sum."""

    counts: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    max_s: float = 0.0
    total: int = 0
    sum_s: float = 0.0  # exact sum of what was recorded [s] (early counts as 0): Prometheus' _sum

    def record(self, late_s: float) -> None:
        late_s = max(late_s, 0.0)
        self.counts[_bucket(late_s)] += 1
        self.total += 1
        self.sum_s += late_s
        self.max_s = max(self.max_s, late_s)

    def merge(self, other: Lateness) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts)]
        self.total += other.total
        self.sum_s += other.sum_s
        self.max_s = max(self.max_s, other.max_s)

    def copy(self) -> Lateness:
        """An independent copy (``counts`` is copied at once: safe while another thread records)."""
        counts = list(self.counts)
        return Lateness(counts, self.max_s, sum(counts), self.sum_s)

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

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the bucket scheme, the non-empty buckets (``{"index": count}``), total, sum [s], max [s]."""
        return {
            "per_decade": _PER_DECADE,
            "low_s": _LOW_S,
            "buckets": {str(k): n for k, n in enumerate(self.counts) if n},
            "total": self.total,
            "sum_s": self.sum_s,
            "max_s": self.max_s,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Lateness:
        """The inverse of :meth:`to_dict`. Raises ValueError (one line) for another scheme or a bad shape."""
        if not isinstance(data, dict):
            raise ValueError(f"a lateness histogram is an object, not {type(data).__name__}")
        if data.get("per_decade") != _PER_DECADE or data.get("low_s") != _LOW_S:
            raise ValueError(
                f"lateness histogram of another bucket scheme (per_decade {data.get('per_decade')!r}, low_s "
                f"{data.get('low_s')!r}; this metersim: {_PER_DECADE}, {_LOW_S})"
            )
        buckets = data.get("buckets")
        counts = [0] * BUCKETS
        shape = "lateness histogram: buckets must map bucket indices to counts, with max_s"
        if not isinstance(buckets, dict):
            raise ValueError(shape)
        try:
            for key, n in buckets.items():
                k = int(key)
                if not 0 <= k < BUCKETS or not isinstance(n, int) or isinstance(n, bool) or n < 0:
                    raise ValueError
                counts[k] = n
            max_s, sum_s = float(data["max_s"]), float(data.get("sum_s", 0.0))
        except (KeyError, TypeError, ValueError):
            raise ValueError(shape) from None
        if data.get("total", sum(counts)) != sum(counts):
            raise ValueError(f"lateness histogram: total {data.get('total')!r} is not the sum of its buckets")
        return cls(counts, max_s, sum(counts), sum_s)
