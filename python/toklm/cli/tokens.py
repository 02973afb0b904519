"""`toklm` sub-commands: tokens (registered by `toklm.cli`)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands to `sub`."""
