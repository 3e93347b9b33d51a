"""Regular expressions written in policy files, run in linear time.

A policy's ``product`` pattern is matched against text a scanned server chose (its banner), so a
pattern with catastrophic backtracking (``(a+)+$``) would let a hostile server stall the assessment.
Patterns are compiled with RE2 (`google-re2`, a dependency): matching is linear in the text,
and constructs that need backtracking (backreferences, lookaround) are refused when the policy is
read. Where RE2 is not installed, Python's ``re`` runs them with a guard instead: a pattern of at
most `MAX_PATTERN` characters, no backreference or lookaround, no repetition of anything that
itself repeats or alternates (the shapes that backtrack exponentially), and at most `MAX_TEXT`
characters of text searched.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

try:
    import re2 as _re2  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - google-re2 is a dependency; kept for platforms without a wheel
    _re2 = None

__all__ = ["ENGINE", "MAX_PATTERN", "MAX_TEXT", "Pattern", "compile_user"]

MAX_PATTERN = 1000
MAX_TEXT = 4096
ENGINE = "re2" if _re2 is not None else "re (guarded)"


class Pattern(Protocol):
    pattern: str

    def search(self, text: str) -> Any: ...


class _Guarded:
    """``re`` with the text cut to `MAX_TEXT` characters."""

    def __init__(self, compiled: re.Pattern[str]) -> None:
        self._re = compiled
        self.pattern = compiled.pattern

    def search(self, text: str) -> Any:
        return self._re.search(text[:MAX_TEXT])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Guarded) and other.pattern == self.pattern

    def __hash__(self) -> int:
        return hash(self.pattern)

    def __repr__(self) -> str:
        return f"<pattern {self.pattern!r}>"


class _Linear(_Guarded):
    """An RE2 pattern."""

    def __init__(self, pattern: str, compiled: Any) -> None:
        self._re = compiled
        self.pattern = pattern

    def search(self, text: str) -> Any:
        return self._re.search(text)


def compile_user(pattern: str, *, ignore_case: bool = True, engine: str | None = None) -> Pattern:
    """Compile a pattern from a policy file; `ValueError` (with a reason) when it is refused."""
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"longer than {MAX_PATTERN} characters")
    if (engine or ENGINE) == "re2" and _re2 is not None:
        options = _re2.Options()
        options.case_sensitive = not ignore_case
        options.log_errors = False
        try:
            return _Linear(pattern, _re2.compile(pattern, options))
        except _re2.error as e:
            msg = e.args[0].decode("utf-8", "replace") if e.args and isinstance(e.args[0], bytes) else str(e)
            raise ValueError(f"{msg} (patterns run on RE2: no backreferences or lookaround)") from None
    try:
        compiled = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as e:
        raise ValueError(str(e)) from None
    _check_linear(pattern, ignore_case)
    return _Guarded(compiled)


def _check_linear(pattern: str, ignore_case: bool) -> None:
    """Refuse the constructs that make a backtracking engine slow (see the module)."""
    from re import _constants as c  # type: ignore[attr-defined]
    from re import _parser  # type: ignore[attr-defined]

    def walk(items: Any, in_repeat: bool) -> None:
        for op, arg in items:
            if op in (c.GROUPREF, c.GROUPREF_EXISTS):
                raise ValueError("backreferences are not allowed")
            if op in (c.ASSERT, c.ASSERT_NOT):
                raise ValueError("lookaround is not allowed")
            if op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
                lo, hi, sub = arg
                if in_repeat:
                    raise ValueError("a repetition inside a repetition can take exponential time")
                walk(sub, hi == c.MAXREPEAT or hi > 1)
            elif op == c.BRANCH:
                if in_repeat:
                    raise ValueError("alternatives inside a repetition can take exponential time")
                for branch in arg[1]:
                    walk(branch, in_repeat)
            elif op == c.SUBPATTERN:
                walk(arg[-1], in_repeat)
            elif op == getattr(c, "ATOMIC_GROUP", None):
                walk(arg, in_repeat)

    walk(_parser.parse(pattern, re.IGNORECASE if ignore_case else 0), False)
