"""The one exception the store raises: its message says which file and what to do."""

from __future__ import annotations


class StoreError(Exception):
    """The store cannot be opened or used: the message says which file and what to do."""
