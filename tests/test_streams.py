import numpy as np
import pytest

from metersim.streams import CHUNK, MeterRange, Stream, draw


def _normal(rng, k):
    return rng.standard_normal(k)


def _whole(count: int) -> MeterRange:
    return MeterRange.whole(count)


def test_draws_do_not_depend_on_group_size():
    small = draw(1, Stream.NOISE, 7, _whole(10), 5, _normal)
    large = draw(1, Stream.NOISE, 7, _whole(3 * CHUNK + 5), 5, _normal)
    np.testing.assert_array_equal(small, large[:10])


def test_a_range_of_chunks_draws_what_the_whole_group_draws_for_it():
    whole = draw(1, Stream.NOISE, 7, _whole(3 * CHUNK + 5), 5, _normal)
    middle = draw(1, Stream.NOISE, 7, MeterRange.of_chunks(1, 3, 3 * CHUNK + 5), 5, _normal)
    np.testing.assert_array_equal(middle, whole[CHUNK : 3 * CHUNK])
    tail = draw(1, Stream.NOISE, 7, MeterRange(3 * CHUNK, 3 * CHUNK + 5), 5, _normal)
    np.testing.assert_array_equal(tail, whole[3 * CHUNK :])


def test_streams_differ_by_key():
    base = draw(1, Stream.NOISE, 7, _whole(100), 5, _normal)
    for other in (
        draw(2, Stream.NOISE, 7, _whole(100), 5, _normal),
        draw(1, Stream.SCALE, 7, _whole(100), 5, _normal),
        draw(1, Stream.NOISE, 8, _whole(100), 5, _normal),
        draw(1, Stream.NOISE, 7, _whole(100), 6, _normal),
    ):
        assert not np.array_equal(base, other)


def test_ranges_hold_whole_chunks():
    assert list(MeterRange(CHUNK, 2 * CHUNK + 3).chunks()) == [(1, CHUNK), (2, 3)]
    with pytest.raises(ValueError):
        MeterRange(1, 10)
    with pytest.raises(ValueError):
        MeterRange(0, 0)
