# Two commands for a newcomer: `make serve` (add DEMO=1 for a demo province) and `make test`.
# Both create the virtual environment in .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test bench bench-national bench-http bench-integrity bench-survey clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

serve: $(STAMP)
	@if [ "$(DEMO)" = "1" ]; then $(BIN)/parindex demo --if-empty; fi
	$(BIN)/parindex serve $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

bench-national: $(STAMP)
	$(BIN)/python -m benchmarks.national $(BENCH_ARGS)

bench-http: $(STAMP)
	$(BIN)/python -m benchmarks.http $(BENCH_ARGS)

bench-integrity: $(STAMP)
	$(BIN)/python -m benchmarks.integrity $(BENCH_ARGS)

bench-survey: $(STAMP)
	$(BIN)/python -m benchmarks.survey $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
