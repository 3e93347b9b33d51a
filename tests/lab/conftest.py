"""Fixtures of the lab tests: the history stores they save to (SQLite, and the private PostgreSQL cluster),
and the hostile files they share with tests/unit/test_hostile_files.py."""

from tests.factories import pg, store_url  # noqa: F401 - fixtures for the tests in this folder
from tests.unit.test_hostile_files import fifo, shadow  # noqa: F401 - fixtures for the tests in this folder
