"""`--help` shows examples and points to `metersim schema` and the README."""

from __future__ import annotations

import pytest

from tests.cli.test_cli import metersim


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"]])
def test_help_shows_examples_and_points_to_the_schema_and_readme(args):
    result = metersim(*args)
    assert result.returncode == 0, result.stderr
    assert "\nexamples:\n  metersim " in result.stdout  # kept as written (RawDescriptionHelpFormatter)
    assert "metersim run " in result.stdout
    assert "`metersim schema`" in result.stdout
    assert "README" in result.stdout


def test_top_level_help_lists_every_command_and_the_exit_codes():
    text = " ".join(metersim("--help").stdout.split())
    for verb in ("init", "run", "validate", "bill", "plot", "schema"):
        assert f" {verb} " in text
    assert "5 output not writable" in text and "130 interrupted" in text


@pytest.mark.parametrize("verb", ["run", "bill", "plot", "validate"])
def test_every_scenario_command_has_the_short_flags_and_shortcuts(verb):
    text = " ".join(metersim(verb, "--help").stdout.split())
    for option in (
        "-s PATH=VALUE, --set PATH=VALUE",
        "--duration D",
        "--seed N",
        "--speed X",
        "--count N",
        "--url URL",
    ):
        assert option in text
    if verb != "validate":
        assert "-q, --quiet" in text
    assert ("-r PATH, --report PATH" in text) == (verb == "run")
    assert ("-o PATH, --out PATH" in text) == (verb in ("bill", "plot"))
