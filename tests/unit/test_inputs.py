"""Malformed input fails fast with a typed error that says what and where; nothing is sent."""

from __future__ import annotations

import pytest

import portlens
from portlens import exceptions as exc


def test_port_helpers() -> None:
    assert portlens.parse_ports("22,80,8000-8002,!8001") == [22, 80, 8000, 8002]
    top = portlens.top_ports("top-100")
    assert len(top) == 100 and len(set(top)) == 100
    assert top == portlens.top_ports("top-1000")[:100]
    for risky in (445, 3389, 23, 21, 22, 6379, 27017, 5900):
        assert risky in top
    assert portlens.service_name(22) == "ssh"
    with pytest.raises(exc.PortSpecError):
        portlens.top_ports("top-7")
