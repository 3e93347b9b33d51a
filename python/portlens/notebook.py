"""Jupyter helpers: rich HTML tables (``_repr_html_``), DataFrames, matplotlib charts, progress bars.

The displays live in `portlens.report.display` and the bars in `portlens.progress`; this module
gathers them for notebooks, and says what ``progress=True`` means there: a ``tqdm.auto`` bar (a
widget in Jupyter), or a text bar when tqdm is not installed.
"""

from __future__ import annotations

from .progress import ProgressArg, ProgressCallback, TextBar, TqdmBar
from .progress import progress_callback as _progress_callback
from .report.display import *  # noqa: F403 - the displays, for notebooks
from .report.display import __all__ as _displays

__all__ = [*_displays, "TqdmBar", "TextBar", "progress_callback"]


def progress_callback(progress: ProgressArg) -> ProgressCallback | None:
    """What ``progress=`` of `portlens.scan` means: a callable as is; ``True`` or ``"auto"`` a
    `TqdmBar` (a `TextBar` on stderr when tqdm is not installed); ``None``/``False`` nothing."""
    # TqdmBar is looked up here at each call, so that it can be replaced on this module (as a test does)
    return _progress_callback(progress, tqdm_bar=TqdmBar)
