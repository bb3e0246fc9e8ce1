"""Client of the Hanzo KMS Secret Sync API: the generated `v1` modules and `errors`."""
