"""What every layer runs on: settings (config), logging and what a log line carries,
Prometheus metrics and their endpoint, and the event store's encryption settings.

It may import adapters and domain only: it is the bottom of service/."""
