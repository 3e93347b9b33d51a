"""Fixtures of the lab tests: the history stores they save to (SQLite, and the private PostgreSQL cluster)."""

from tests.factories import pg, store_url  # noqa: F401 - fixtures for the tests in this folder
