"""Loaded by every Python subprocess of a canary run (the plugin puts this folder on
PYTHONPATH): the CLI and the emulator mark and record as the test process does."""

import os

if os.environ.get("SECRET_SYNC_CANARY_DIR"):
    from tests.canary.recorder import start_in_subprocess

    start_in_subprocess()
