"""The exception tree: everything portlens raises on purpose derives from `PortlensError`.

Errors about the caller's input also derive from `ValueError`, so existing ``except ValueError``
clauses keep working. Each carries where the problem is: ``input`` (the whole text given),
``item`` (the offending part) and ``offset`` (its character position in ``input``), when known.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "PortlensError",
    "InputError",
    "TargetError",
    "TargetTooLargeError",
    "ResolveError",
    "ScopeError",
    "PortSpecError",
    "OptionError",
    "ScanError",
    "ScanInterrupted",
    "ResumeError",
]


class PortlensError(Exception):
    """Base class of every error portlens raises."""


class InputError(PortlensError, ValueError):
    """The caller's input was wrong; nothing was sent."""

    def __init__(
        self,
        message: str,
        input: str | None = None,  # noqa: A002 - the user's input text
        item: str | None = None,
        offset: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.input = input
        self.item = item
        self.offset = offset

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.input, self.item, self.offset))


class TargetError(InputError):
    """A target specification could not be parsed (or left nothing to scan)."""


class TargetTooLargeError(TargetError):
    """A target covers more addresses than allowed (pass ``allow_large=True`` to lift the limit)."""


class ResolveError(TargetError):
    """A hostname did not resolve."""


class ScopeError(InputError):
    """A target lies outside the authorised scope; nothing was sent."""


class PortSpecError(InputError):
    """A port specification could not be parsed."""


class OptionError(InputError):
    """A scan option has a wrong value."""


class ResumeError(InputError):
    """A saved scan cannot be resumed (`portlens.resume`): it is complete, or it has no checkpoint this
    portlens can read (saved by an older or newer version). Nothing was sent and the store is unchanged."""


class ScanError(PortlensError, RuntimeError):
    """The scan itself failed (for example the machine ran out of sockets for good)."""


class ScanInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a scan. ``result`` holds what was found before it (status "cancelled").

    It is a `KeyboardInterrupt`, so code that does not care still stops as usual.
    """

    def __init__(self, result: Any) -> None:
        super().__init__("scan interrupted; partial result in .result")
        self.result = result
