# Two commands for a fresh clone: `make demo` and `make test`. Each builds .venv when missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
DATA   ?=

.PHONY: demo test lint clean

$(BIN)/maven: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# the CPU build of torch first, so nothing below pulls CUDA wheels
	$(BIN)/python -m pip install --quiet torch==$(TORCH_VERSION)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(BIN)/maven

demo: $(BIN)/maven
	$(BIN)/python -m maven.demo $(if $(DATA),--data "$(DATA)",)

test: $(BIN)/maven
	$(BIN)/python -m pytest -q

lint: $(BIN)/maven
	$(BIN)/ruff check maven tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
