"""The store tests of tests/unit/test_store.py again, on a private PostgreSQL server (tests.factories.PgCluster)."""

from __future__ import annotations

import pytest

from tests.factories import PgCluster, pg  # noqa: F401 - the session's PostgreSQL cluster fixture
from tests.unit.test_store import (  # noqa: F401 - collected here with the PostgreSQL store_url
    test_drift_services_and_severity_changes,
    test_migrations_build_the_schema_the_code_uses,
    test_profiles_prune_and_cli,
    test_save_load_roundtrip_and_history,
)


@pytest.fixture
def store_url(pg: PgCluster) -> str:  # noqa: F811 - this module's store: a new PostgreSQL database
    return pg.new_database()
