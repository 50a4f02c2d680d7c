from metersim.config import TruthConfig


def test_format_follows_the_suffix_unless_given():
    assert TruthConfig(path="out/t.parquet").resolved_format == "parquet"
    assert TruthConfig(path="out/t.csv").resolved_format == "csv"
    assert TruthConfig(path="out/t.parquet", format="csv").resolved_format == "csv"
