# One entry point for everything: `make run` serves on SQLite, `make test` runs all tests.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROTOS := $(shell find protos -name '*.proto')
GEN    := gen/.stamp

.PHONY: run test lint proto-lint bench rebuild emulator clean

# Installs exactly requirements.lock (every package, pinned and hashed), then this
# project itself without resolving anything. `make lock` rewrites the lock.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

.PHONY: lock
# After changing a pin in pyproject.toml: resolve the whole set again (PyPI) and commit
# requirements.lock with it. `make lint` fails while the two disagree (.ci/lock_check.py).
lock: $(STAMP)
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
	    --generate-hashes --custom-compile-command "make lock" -o requirements.lock

# Python code generated from protos/ (never committed).
$(GEN): $(STAMP) $(PROTOS)
	rm -rf gen && mkdir -p gen
	$(PY) -m grpc_tools.protoc -I protos --python_out=gen --grpc_python_out=gen \
	    --plugin=protoc-gen-mypy=$(VENV)/bin/protoc-gen-mypy --mypy_out=gen $(PROTOS)
	$(PY) -c "import site, pathlib; pathlib.Path(site.getsitepackages()[0], 'secretsync-gen.pth').write_text(str(pathlib.Path('gen').resolve()))"
	touch $@

run: $(GEN)
	$(PY) -m service serve --dev

test: $(GEN) lint node-client-test go-client-test
	$(PY) -m pytest

lint: $(GEN) contract-check
	$(PY) .ci/lock_check.py
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/buf lint

bench: $(GEN)
	$(PY) -m tests.bench

# The event store is encrypted: rebuild reads it with the development root key unless told.
rebuild: $(GEN)
	SECRET_SYNC_ROOT_KEY_FILE="$${SECRET_SYNC_ROOT_KEY_FILE:-data/root.key}" $(PY) -m service rebuild

# The Key Vault emulator of the README's quick start (TLS on 8443, CA in data/emulator/).
emulator: $(GEN)
	$(PY) -m service emulator --port 8443 --client-secret dev-secret --cert-dir data/emulator

clean:
	rm -rf gen $(VENV)

# --- contract, clients and API page (issue 7) ---------------------------------
.PHONY: contract-check contract-release
CONTRACT := contract/v1.binpb

# protos/ must stay wire- and source-compatible with the released contract (buf.yaml:
# breaking FILE). Checked against a checked-in image: CI clones may have no tags.
contract-check: $(STAMP)
	$(VENV)/bin/buf breaking --against $(CONTRACT)

# Deliberately record the current protos as the released contract (contract/README.md).
contract-release: $(STAMP)
	$(VENV)/bin/buf build --exclude-source-info -o $(CONTRACT)

.PHONY: docs
# docs/api.md from the protos' comments; tests/clients/test_api_docs.py keeps it current.
docs: $(STAMP)
	$(PY) -m contract.api_docs docs/api.md

.PHONY: node-client-test
# The Node.js client (clients/node) against a real service and the Key Vault emulator.
node-client-test: $(GEN)
	cd clients/node && npm ci && npm test

.PHONY: python-client
# A wheel of the Python client (clients/python) in clients/python/dist/; its test is
# tests/clients/test_python_client.py, part of pytest.
python-client: $(STAMP)
	$(PY) -m pip wheel --no-deps --no-build-isolation -q -w clients/python/dist clients/python

.PHONY: go-client-test
# The Go client (clients/go) as a Go team builds it with Debian's packages only (golang-go,
# protobuf-compiler, protoc-gen-go, protoc-gen-go-grpc and the Go protobuf, grpc and genproto
# libraries; .ci/run installs them): `buf generate` (buf.gen.yaml) writes the code into a
# GOPATH tree, gen/go/src/<go_package>, the client is copied beside it, and `go test` runs
# its scenario against a real service and the Key Vault emulator. GOPATH mode, no module
# proxy: the libraries are Debian's, in /usr/share/gocode.
GO_TREE := gen/go/src/github.com/hanzoai/kms-secretsync
GO_ENV  := GO111MODULE=off GOPATH=$(CURDIR)/gen/go:/usr/share/gocode GOFLAGS= \
           SECRETSYNC_REPO=$(CURDIR) SECRETSYNC_PYTHON=$(CURDIR)/$(PY)
go-client-test: $(GEN)
	rm -rf gen/go gen/java gen/csharp
	$(VENV)/bin/buf generate
	mkdir -p $(GO_TREE)/clients && cp -r clients/go $(GO_TREE)/clients/go
	$(GO_ENV) go vet github.com/hanzoai/kms-secretsync/clients/go/secretsync
	$(GO_ENV) go test -count=1 -v github.com/hanzoai/kms-secretsync/clients/go/secretsync
