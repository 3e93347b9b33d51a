"""The HTML report: one self-contained file (inline CSS, JS and SVG; nothing loaded from elsewhere).

Rendered by Jinja2 with autoescape from ``templates/report.html.j2``: every string that came from
the network (banners, titles, certificate fields, hostnames) is escaped. A Content-Security-Policy
with a per-report nonce is defence in depth: only the report's own script may run, and the page
may not load or send anything.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from ..policy.model import SEVERITIES, Assessment
from ..results import ScanResult
from .context import PRACTICE_TITLES, SEVERITY_COLORS, build
from .jsonfmt import write_text

__all__ = ["render_html", "write_html", "TEMPLATES"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = _num
    env.globals.update(SEVERITIES=list(reversed(SEVERITIES)), COLORS=SEVERITY_COLORS, PRACTICES=PRACTICE_TITLES)
    return env


def _num(value: Any) -> str:
    """A score or count without a useless ``.0``, with thousands separators."""
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{int(value):,}"


def render_html(
    assessment: Assessment,
    result: ScanResult | None = None,
    *,
    previous: ScanResult | Assessment | None = None,
    previous_assessment: Assessment | None = None,
    drift: Any = None,
    history: Iterable[Mapping[str, Any]] | None = None,
    title: str | None = None,
) -> str:
    """The report as one HTML document.

    ``result``: the scan the assessment came from (hosts scanned and up, services, TLS facts,
    banners). ``previous``: an earlier `ScanResult` or `Assessment` to compare with ("What
    changed"), unless ``drift`` (a ``portlens.drift/1`` document, or an object with ``to_dict()``)
    is given. ``history``: points ``{"started", "open_ports", "findings"}`` for the over-time chart.
    """
    report = build(
        assessment,
        result,
        previous=previous,
        previous_assessment=previous_assessment,
        drift=drift,
        history=history,
        title=title,
    )
    return _env().get_template("report.html.j2").render(r=report, nonce=secrets.token_urlsafe(18))


def write_html(
    path: str | os.PathLike[str], assessment: Assessment, result: ScanResult | None = None, **kw: Any
) -> str:
    """`render_html`, written atomically to ``path``; returns the text."""
    text = render_html(assessment, result, **kw)
    write_text(path, text)
    return text
