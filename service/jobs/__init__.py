"""The work on vaults: the worker that finds requested jobs, the job runner that claims
one and keeps its lease, the sync / import / remove engines that carry out a plan through
the Key Vault port, vault access per connection, and auto-sync (source changes become
sync requests).

It may import views (to find jobs and wait for them), app, runtime, adapters and domain;
never the gRPC edge."""
