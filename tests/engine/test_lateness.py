"""The lateness histogram: quantiles within one bucket (20 per decade, about 12 % wide), exact max, merges."""

from __future__ import annotations

import json

import numpy as np
import pytest

from metersim.engine.lateness import Lateness

WIDTH = 10 ** (1 / 20)  # ratio of a bucket's upper to its lower edge, 1.122


def filled(samples) -> Lateness:
    lateness = Lateness()
    for s in samples:
        lateness.record(float(s))
    return lateness


def test_quantiles_of_known_samples_land_in_their_bucket():
    # 600 emissions 2 ms late, 395 at 20 ms, 5 at 0.5 s
    lateness = filled([0.002] * 600 + [0.020] * 395 + [0.5] * 5)
    assert lateness.total == 1000
    assert 0.002 <= lateness.quantile_s(0.5) <= 0.002 * WIDTH
    assert 0.020 <= lateness.quantile_s(0.99) <= 0.020 * WIDTH
    assert lateness.quantile_s(1.0) == 0.5  # the top bucket's edge is capped at the exact maximum
    assert lateness.max_s == 0.5
    summary = lateness.summary_ms()
    assert set(summary) == {"p50_ms", "p99_ms", "max_ms"}
    assert 2.0 <= summary["p50_ms"] <= 2.0 * WIDTH + 0.01
    assert 20.0 <= summary["p99_ms"] <= 20.0 * WIDTH + 0.01
    assert summary["max_ms"] == 500.0


@pytest.mark.parametrize("q", [0.01, 0.1, 0.5, 0.9, 0.99, 0.999])
def test_quantiles_of_a_wide_sample_are_within_one_bucket_above_the_exact_ones(q):
    samples = np.exp(np.random.default_rng(1).uniform(np.log(1e-4), np.log(30.0), 20_000))
    lateness = filled(samples)
    exact = float(np.quantile(samples, q, method="inverted_cdf"))
    assert exact <= lateness.quantile_s(q) <= exact * WIDTH
    assert lateness.max_s == samples.max()


def test_a_single_sample_is_exact():
    lateness = filled([0.0123])
    for q in (0.0, 0.5, 1.0):
        assert lateness.quantile_s(q) == 0.0123


def test_early_and_tiny_values_count_as_on_time_and_huge_ones_as_the_maximum():
    lateness = filled([-0.5, 0.0, 1e-7])
    assert lateness.max_s == 1e-7
    assert lateness.quantile_s(0.5) <= 1e-5  # the lowest bucket ends at 10 us
    assert lateness.summary_ms()["max_ms"] == 0.0


def test_beyond_the_highest_edge_the_quantile_is_the_largest_value_seen():
    # bucket_upper_s: "the highest bucket reports the largest value seen instead"; it holds [1000 s, inf)
    huge = filled([0.001, 5000.0])
    assert huge.max_s == 5000.0
    assert huge.quantile_s(1.0) == 5000.0
    assert huge.summary_ms()["p99_ms"] == 5_000_000.0


def test_an_empty_histogram_reports_zeros():
    assert Lateness().quantile_s(0.99) == 0.0
    assert Lateness().summary_ms() == {"p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}


def test_merge_adds_counts_and_keeps_the_larger_maximum():
    rng = np.random.default_rng(2)
    a_samples, b_samples = rng.uniform(0, 0.01, 700), rng.uniform(0.005, 0.2, 300)
    a, b = filled(a_samples), filled(b_samples)
    a_counts = list(a.counts)
    a.merge(b)
    assert a.total == 1000
    assert a.counts == [x + y for x, y in zip(a_counts, b.counts)]
    assert a.max_s == max(a_samples.max(), b_samples.max())
    together = filled(np.concatenate([a_samples, b_samples]))
    assert a.counts == together.counts
    for q in (0.5, 0.9, 0.99):
        assert a.quantile_s(q) == together.quantile_s(q)
    assert b.total == 300  # the other histogram is left as it was


def test_the_sum_is_exact_and_early_emissions_add_nothing():
    lateness = filled([0.25, 0.5, -3.0, 0.125])
    assert lateness.sum_s == 0.875  # exact binary fractions: 0.25 + 0.5 + 0 + 0.125
    other = filled([1.0, 2.0])
    lateness.merge(other)
    assert lateness.sum_s == 3.875 and lateness.total == 6


def test_to_dict_keeps_only_the_filled_buckets_and_round_trips():
    # 0.002 s: log10(0.002 / 1e-5) * 20 = 46.02, so bucket 47; 0.5 s: log10(5e4) * 20 = 93.98, bucket 94
    lateness = filled([0.002, 0.002, 0.5])
    data = lateness.to_dict()
    assert data == {
        "per_decade": 20,
        "low_s": 1e-5,
        "buckets": {"47": 2, "94": 1},
        "total": 3,
        "sum_s": 0.504,
        "max_s": 0.5,
    }
    again = Lateness.from_dict(json.loads(json.dumps(data)))
    assert again == lateness


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ([], "is an object"),
        ({"per_decade": 10, "low_s": 1e-5, "buckets": {}, "max_s": 0}, "another bucket scheme"),
        ({"per_decade": 20, "low_s": 1e-5, "buckets": {"999": 1}, "max_s": 0}, "bucket indices to counts"),
        ({"per_decade": 20, "low_s": 1e-5, "buckets": {"3": -1}, "max_s": 0}, "bucket indices to counts"),
        ({"per_decade": 20, "low_s": 1e-5, "buckets": {"x": 1}, "max_s": 0}, "bucket indices to counts"),
        ({"per_decade": 20, "low_s": 1e-5, "buckets": [1, 2], "max_s": 0}, "bucket indices to counts"),
        ({"per_decade": 20, "low_s": 1e-5, "buckets": {"3": 1}}, "with max_s"),
        ({"per_decade": 20, "low_s": 1e-5, "buckets": {"3": 1}, "max_s": 0, "total": 2}, "not the sum"),
    ],
)
def test_from_dict_refuses_what_it_cannot_merge_exactly(data, reason):
    with pytest.raises(ValueError, match=reason) as error:
        Lateness.from_dict(data)
    assert "\n" not in str(error.value)


def test_a_copy_is_independent_of_later_records():
    lateness = filled([0.01, 0.02])
    copy = lateness.copy()
    lateness.record(0.03)
    assert copy.total == 2 and sum(copy.counts) == 2 and copy.max_s == 0.02
    assert lateness.total == 3
