import pytest

from metersim.timebase import format_duration, iso_local, parse_duration, parse_instant, utc_offset_s


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("2h", 7200),
        ("1d", 86400),
        ("1d12h", 129600),
        ("3600", 3600),
        (60, 60),
        ("1w", 604800),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "1x", "d", "-5m", "0s", 0, True, "1d junk"])
def test_parse_duration_rejects(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_format_duration_roundtrip():
    assert format_duration(93784) == "1d2h3m4s"
    assert parse_duration(format_duration(93784)) == 93784


def test_parse_instant_needs_offset():
    assert parse_instant("2026-01-01T00:00:00+05:00") == parse_instant("2025-12-31T19:00:00Z")
    with pytest.raises(ValueError, match="offset"):
        parse_instant("2026-01-01T00:00:00")


def test_local_iso_follows_dst():
    winter = parse_instant("2026-01-15T12:00:00Z")
    summer = parse_instant("2026-07-15T12:00:00Z")
    assert iso_local(winter, "Europe/Amsterdam") == "2026-01-15T13:00:00+01:00"
    assert iso_local(summer, "Europe/Amsterdam") == "2026-07-15T14:00:00+02:00"
    assert utc_offset_s("Asia/Karachi", summer) == 5 * 3600
