import pytest

from metersim.config import BandWindow, Tariff, clock_minutes, parse_scenario
from metersim.errors import ConfigError
from tests.conftest import scenario_dict


def tou(*windows: dict) -> dict:
    return {"bands": [{"name": "peak", "windows": list(windows)}, {"name": "off"}], "prices": {"peak": 2, "off": 1}}


def test_clock_times_are_kept_as_text_and_as_minutes():
    window = Tariff.model_validate(tou({"start": "18:30", "end": "24:00"})).bands[0].windows[0]
    assert (window.start, window.end) == ("18:30", "24:00")
    assert (window.start_min, window.end_min) == (1110, 1440)
    assert clock_minutes(window.start) == window.start_min
    assert window.model_copy(update={"start": "07:15"}).start_min == 435


def test_bad_clock_times_are_reported_at_their_windows():
    data = scenario_dict()
    data["tariffs"] = {"tou": tou({"start": "25:00", "end": "24:00"}, {"start": "7:00", "end": "24:01"})}
    with pytest.raises(ConfigError) as info:
        parse_scenario(data)
    assert info.value.problems == [
        "tariffs.tou.bands[0].windows[0].start: expected \"HH:MM\", got '25:00'",
        "tariffs.tou.bands[0].windows[1].start: expected \"HH:MM\", got '7:00'",
        "tariffs.tou.bands[0].windows[1].end: expected \"HH:MM\", got '24:01'",
    ]


@pytest.mark.parametrize(
    ("tariff", "message"),
    [
        ({"prices": {"x": 1}}, "`prices` must give one price per band ['all'], or use `slabs`"),
        ({"slabs": [{"months": [1], "blocks": [{"price": 1}]}]}, "`slabs` must cover every month"),
        ({"slabs": [{"blocks": [{"up_to": 9, "price": 1}]}]}, "every block but the last needs `up_to`"),
        ({"timezone": "Nope/Nope", "prices": {"all": 1}}, "unknown IANA time zone 'Nope/Nope'"),
    ],
)
def test_bad_tariffs(tariff, message):
    data = scenario_dict()
    data["tariffs"] = {"t": tariff}
    with pytest.raises(ConfigError) as info:
        parse_scenario(data)
    assert any(p.startswith("tariffs.t") and message in p for p in info.value.problems), info.value.problems


def test_a_window_needs_both_ends():
    with pytest.raises(ValueError, match="end"):
        BandWindow.model_validate({"start": "00:00"})
