"""What the store's modules share: database errors as `StoreError`, times in UTC, JSON-safe values."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from .engine import display_url
from .errors import StoreError

if TYPE_CHECKING:
    pass


_F = TypeVar("_F", bound=Callable[..., Any])


def translate_errors(fn: _F) -> _F:
    """Database errors (server gone, disk full, locked for too long) become `StoreError`s."""

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except SQLAlchemyError as e:
            url = getattr(self, "url", None) or self.store.url
            raise StoreError(f"store {display_url(url)}: {error_reason(e)}") from e

    return cast(_F, wrapper)


@contextmanager
def store_errors(url: str) -> Iterator[None]:
    """`translate_errors` for code that is not a store method: database errors become `StoreError`s."""
    try:
        yield
    except SQLAlchemyError as e:
        raise StoreError(f"store {display_url(url)}: {error_reason(e)}") from e


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def utc(value: datetime | None) -> datetime | None:
    """Timestamps come back naive from SQLite and in the session zone from PostgreSQL: make them UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def plain(value: Any) -> Any:
    """JSON-safe copy (options may hold paths or other objects)."""
    return json.loads(json.dumps(value, default=str))


def error_reason(e: BaseException) -> str:
    if isinstance(e, DBAPIError) and e.orig is not None:
        return str(e.orig).strip().splitlines()[0]
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
