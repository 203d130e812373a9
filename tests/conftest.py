"""Shared fixtures: a fresh database per test, on SQLite and on a real PostgreSQL
server the suite starts itself; the hub app; orgs and API keys."""
from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Secrets are sealed at rest; a hub on PostgreSQL has no default key file, so the tests' hubs
# (in-process and the processes they start) share one made for this run.
os.environ.setdefault("CAUSEWAY_SECRETS_KEY_FILE",
                      str(Path(tempfile.mkdtemp(prefix="causeway-test-secrets-")) / "secrets-key"))

from causeway_common.catalogue import load_catalogue
from hub.app import build_services, create_app
from hub.config import Settings
from hub.db import make_engine
from hub.migrate import upgrade
from hub.records.service import sync_catalogue
from support.servers import PostgresServer
from support.spec_validation import check_each_document_once

check_each_document_once()

DATABASES = os.environ.get("CAUSEWAY_TEST_DATABASES", "sqlite,postgresql").split(",")
TEST_ORGS = [
    ("edinburgh", "The City of Edinburgh Council", "council"),
    ("glasgow", "Glasgow City Council", "council"),
    ("fife", "Fife Council", "council"),
    ("sds", "Skills Development Scotland", "agency"),
    ("sfrs", "Scottish Fire and Rescue Service", "agency"),
]
_counter = itertools.count()
# Fixtures that start real processes (a hub, an agent's hub, a receiver, a broker, a browser):
# a test that uses one is end-to-end, marked `e2e` here so no test has to remember to.
PROCESS_FIXTURES = {"hub", "module_hub", "shared_hub", "tls_hub", "receiver", "two_receivers", "broker", "smtp_server",
                    "webhook_receiver", "chromium", "open_console"}


def pytest_collection_modifyitems(items):
    for item in items:
        if PROCESS_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


def _prepare(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    sync_catalogue(engine, load_catalogue())
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_server():
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "template.db"
    _prepare(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_server):
    postgres_server.create_database("causeway_template")
    _prepare(postgres_server.database_url("causeway_template"))
    return "causeway_template"


@pytest.fixture(params=DATABASES)
def db_url(request, tmp_path):
    """A freshly migrated database with the catalogue loaded, per test."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        target = tmp_path / "causeway.db"
        shutil.copy(template, target)
        yield f"sqlite:///{target}"
    else:
        server = request.getfixturevalue("postgres_server")
        template = request.getfixturevalue("postgres_template")
        name = f"causeway_test_{next(_counter)}"
        url = server.create_database(name, template=template)
        yield url
        server.drop_database(name)


@pytest.fixture(scope="module", params=DATABASES)
def module_db_url(request, tmp_path_factory):
    """Like db_url, but one database per test module: for modules whose tests share one hub
    process because starting a process per test would cost more than the tests themselves.
    Tests on it must not depend on what other tests of the module wrote."""
    if request.param == "sqlite":
        target = tmp_path_factory.mktemp("module-db") / "causeway.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite:///{target}"
    else:
        server = request.getfixturevalue("postgres_server")
        name = f"causeway_module_{next(_counter)}"
        yield server.create_database(name, template=request.getfixturevalue("postgres_template"))
        server.drop_database(name)


@pytest.fixture(scope="module")
def module_services(module_db_url):
    built = build_services(Settings(db_url=module_db_url))
    for slug, name, kind in TEST_ORGS:
        built.orgs.add_org(slug, name, kind, actor="test")
    yield built
    built.engine.dispose()


@pytest.fixture(scope="module")
def module_hub(module_services, module_db_url, tmp_path_factory):
    """One real hub process per test module (and database)."""
    from support.hubprocess import HubProcess

    process = HubProcess(module_db_url, log_path=tmp_path_factory.mktemp("module-hub") / "hub.log").start()
    yield process
    process.stop()


@pytest.fixture
def settings(db_url):
    return Settings(db_url=db_url)


@pytest.fixture
def services(settings):
    built = build_services(settings)
    for slug, name, kind in TEST_ORGS:
        built.orgs.add_org(slug, name, kind, actor="test")
    yield built
    built.engine.dispose()


@pytest.fixture
def app(services):
    return create_app(services=services)


@pytest.fixture
def client(app):
    with app.test_client() as test_client:
        yield test_client


@pytest.fixture
def key_for(services):
    """key_for(org, role) -> an API key; returns the same key for the same pair."""
    issued = {}

    def issue(org: str, role: str) -> str:
        if (org, role) not in issued:
            issued[org, role] = services.orgs.issue_key(org, role, actor="test")
        return issued[org, role]

    return issue


@pytest.fixture
def auth(key_for):
    """auth(org, role) -> headers carrying a bearer key."""
    return lambda org, role: {"Authorization": f"Bearer {key_for(org, role)}"}


CHROMIUM = os.environ.get("CAUSEWAY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def chromium():
    """Headless Chromium (the system's Debian package, driven by Playwright), one per test
    process: Playwright's sync API allows only one instance per thread."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        yield browser
        browser.close()


@pytest.fixture
def hub(services, db_url, tmp_path):
    """A real hub process (`causeway-hub serve`) on the test's database; a test module may define its own."""
    from support.hubprocess import HubProcess

    process = HubProcess(db_url, log_path=tmp_path / "hub.log").start()
    yield process
    process.stop()
