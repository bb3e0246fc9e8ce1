"""The read side: the projections that keep the secret_syncs view and the audit view, the
followers that run them, leadership (which replica runs them), progress (what readers and
writers wait on), the Get cache, opening the views' stores, and rebuilding a view.

It may import app, runtime, adapters and domain; never jobs or the gRPC edge."""
