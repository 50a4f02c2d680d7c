# The README's two commands. Each creates .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/metersim: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/metersim
	$(BIN)/metersim run configs/quickstart.yaml
	@echo "First readings (all of them are in out/quickstart.jsonl):"
	@head -n 3 out/quickstart.jsonl

test: $(BIN)/metersim
	$(BIN)/ruff check metersim tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest -q

bench: $(BIN)/metersim
	$(BIN)/python benchmarks/throughput.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache .hypothesis
