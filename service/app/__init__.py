"""The use cases: eventsourcing Applications, one per aggregate family (secret syncs, the
secret source, Azure connections, service tokens), and root-key rotation. Each command
loads aggregates, calls one domain method, saves; the caller and request id of the call
(call_context, access) are recorded on every event.

It may import runtime, adapters and domain; never the gRPC edge, jobs or views."""
