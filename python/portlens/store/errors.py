"""The store's errors, under `portlens.PortlensError`."""

from __future__ import annotations

from ..exceptions import InputError, PortlensError

__all__ = ["StoreError", "NotFoundError"]


class StoreError(PortlensError):
    """The store cannot be opened, read or written (bad URL, unreachable server, not a database,
    a schema from a newer portlens, a missing driver)."""


class NotFoundError(StoreError, InputError):
    """A scan, profile or pair of scans asked for is not in the store (an input error: exit 2)."""

    def __init__(self, message: str, item: str | None = None) -> None:
        InputError.__init__(self, message, item=item)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.message, self.item))
