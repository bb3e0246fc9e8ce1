# One entry point for everything: `make run` serves on SQLite, `make test` runs all tests.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROTOS := $(shell find protos -name '*.proto')
GEN    := gen/.stamp

.PHONY: run test lint proto-lint bench rebuild emulator clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

# Python code generated from protos/ (never committed).
$(GEN): $(STAMP) $(PROTOS)
	rm -rf gen && mkdir -p gen
	$(PY) -m grpc_tools.protoc -I protos --python_out=gen --grpc_python_out=gen \
	    --plugin=protoc-gen-mypy=$(VENV)/bin/protoc-gen-mypy --mypy_out=gen $(PROTOS)
	$(PY) -c "import site, pathlib; pathlib.Path(site.getsitepackages()[0], 'secretsync-gen.pth').write_text(str(pathlib.Path('gen').resolve()))"
	touch $@

run: $(GEN)
	$(PY) -m service serve --dev

test: $(GEN) lint
	$(PY) -m pytest

lint: $(GEN)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/buf lint

bench: $(GEN)
	$(PY) -m tests.bench

rebuild: $(GEN)
	$(PY) -m service rebuild

clean:
	rm -rf gen $(VENV)
