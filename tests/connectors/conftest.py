"""Fixtures the connector tests share."""
import itertools

import pytest
import sqlalchemy as sa

_names = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def case_db(request, tmp_path):
    """(admin engine that may write, URL the source uses, base dir) for a fresh database."""
    if request.param == "sqlite":
        admin = sa.create_engine(f"sqlite:///{tmp_path / 'caselink.db'}")
        yield admin, "sqlite:///caselink.db", tmp_path
        admin.dispose()
    else:
        server = request.getfixturevalue("postgres_server")
        name = f"caselink_{next(_names)}"
        url = server.create_database(name)
        admin = sa.create_engine(url)
        yield admin, url, tmp_path
        admin.dispose()
        server.drop_database(name)
