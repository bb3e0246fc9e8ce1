"""The gRPC edge: one servicer per service, one converter module per resource, the
interceptors (call log, stream limits, authentication, idempotency), errors as rich gRPC
statuses, the per-RPC permission table, TLS and paging.

It parses requests, calls one use case (service.app) and answers from the views
(service.views). It may import jobs, views, app, runtime, adapters and domain; nothing
below imports it."""
