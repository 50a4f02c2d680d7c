import numpy as np

from metersim.streams import CHUNK, Stream, draw


def _normal(rng, k):
    return rng.standard_normal(k)


def test_draws_do_not_depend_on_group_size():
    small = draw(1, Stream.NOISE, 7, 10, 5, _normal)
    large = draw(1, Stream.NOISE, 7, 3 * CHUNK + 5, 5, _normal)
    np.testing.assert_array_equal(small, large[:10])


def test_streams_differ_by_key():
    base = draw(1, Stream.NOISE, 7, 100, 5, _normal)
    for other in (
        draw(2, Stream.NOISE, 7, 100, 5, _normal),
        draw(1, Stream.SCALE, 7, 100, 5, _normal),
        draw(1, Stream.NOISE, 8, 100, 5, _normal),
        draw(1, Stream.NOISE, 7, 100, 6, _normal),
    ):
        assert not np.array_equal(base, other)
