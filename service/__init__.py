"""The Secret Sync service: the application around the pure domain (domain/) and the
outside world (adapters/), by layer. From the top: `bootstrap` builds every object,
`server` runs them; `api` is the gRPC edge, `jobs` the work on vaults, `views` the read
side, `app` the use cases, `runtime` settings, logs, metrics and keys. A layer imports only
the layers below it (import-linter contracts in pyproject.toml, run by `make lint`);
`cli` is a gRPC client of the service and imports none of it."""
