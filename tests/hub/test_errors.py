"""One error tree: services raise domain errors, and each edge (API, CLI) says them its own way."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

import hub.app  # noqa: F401  (imports every domain, so every subclass of the tree is known)
from hub import errors
from hub.cli import main
from hub.cli.errors import report
from hub.problems import MEMBERS, problem_for
from support.agreements import POLICIES, example

HUB = Path(hub.app.__file__).parent
# The HTTP layer: handlers, the app and its middleware (the publish route among them), request
# plumbing, the /metrics view and the console's pages. Everything else in hub/ is domain code.
HTTP_LAYER = {"app.py", "problems.py", "middleware.py", "web.py", "api_auth.py", "validation.py",
              "parameter_validation.py", "page_headers.py", "jsonprovider.py", "health/scrape.py",
              "records/publish_route.py"}
HTTP_WORDS = re.compile(r"\b(HTTP|GET|POST|PUT|PATCH|DELETE|4\d\d|5\d\d|Bad Request|Not Found|Unprocessable|Conflict)\b"
                        r"|/api/v1|Traceback")
REFERRAL = "referral-edinburgh-sds"


def _http_layer(path: Path) -> bool:
    relative = path.relative_to(HUB).as_posix()
    return relative in HTTP_LAYER or path.name == "api.py" or relative.startswith(("console/", "migrations/"))


def _imported_modules(path: Path) -> set[str]:
    return _imports(path.read_text(encoding="utf-8"), ".".join(("hub", *path.relative_to(HUB).parent.parts)))


def _imports(source: str, package: str) -> set[str]:
    """Every module (and module.name) the source imports, relative imports resolved from `package`."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def test_the_http_layer_it_exempts_exists():
    for relative in HTTP_LAYER:
        assert (HUB / relative).exists(), relative


def test_no_service_module_imports_hub_problems():
    domain = [path for path in HUB.rglob("*.py") if not _http_layer(path)]
    assert len(domain) > 40
    offenders = [path.relative_to(HUB).as_posix() for path in domain if "hub.problems" in _imported_modules(path)]
    assert offenders == []


@pytest.mark.parametrize("source", ["from hub.problems import Problem", "import hub.problems",
                                    "from hub import problems", "from ..problems import Problem",
                                    "def f():\n    from hub.problems import Problem\n"])
def test_the_import_walk_sees_every_way_of_naming_the_module(source):
    assert "hub.problems" in _imports(source, "hub.records")


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_the_docstring_draws_the_whole_tree():
    drawn = errors.__doc__.split("The tree::", 1)[1]
    for cls in [errors.HubError, *_subclasses(errors.HubError)]:
        assert re.search(rf"\b{cls.__name__}\b", drawn), f"{cls.__module__}.{cls.__name__} is not drawn"


def test_the_problem_members_are_those_the_contract_documents():
    contract = yaml.safe_load((HUB / "openapi.yaml").read_text(encoding="utf-8"))
    documented = set(contract["components"]["schemas"]["Problem"]["properties"])
    assert set(MEMBERS) == documented - {"type", "title", "status", "detail", "instance"}


def test_details_the_contract_does_not_document_stay_out_of_the_document():
    error = errors.Conflict("version 1 of x lacks the approval of sds", waiting_for_orgs=["sds"])
    assert problem_for(error).as_dict() == {"type": "about:blank", "title": "Conflict", "status": 409,
                                            "detail": "version 1 of x lacks the approval of sds"}
    typed = errors.InvalidContent("the log is empty", slug="replay-out-of-range", log_end=0)
    assert problem_for(typed).as_dict() == {
        "type": "https://causeway.example/problems/replay-out-of-range", "title": "Unprocessable Content",
        "status": 422, "detail": "the log is empty", "log_end": 0}


# -- the API answers as before -------------------------------------------------
def test_writing_an_agreement_twice_is_a_conflict_said_without_http(client, auth):
    edinburgh = auth("edinburgh", "governance")
    source = example(REFERRAL)
    assert client.post("/api/v1/agreements", json={"source": source}, headers=edinburgh).status_code == 201
    again = client.post("/api/v1/agreements", json={"source": source}, headers=edinburgh)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json() == {"type": "about:blank", "title": "Conflict", "status": 409,
                            "detail": f"agreement {REFERRAL} already exists; write its next version instead"}

    early = client.post(f"/api/v1/agreements/{REFERRAL}/transitions", json={"to": "active"}, headers=edinburgh)
    assert early.status_code == 409
    assert early.json() == {"type": "about:blank", "title": "Conflict", "status": 409,
                            "detail": f"version 1 of {REFERRAL} is draft; it cannot move to active "
                                      "(allowed from draft: approved, retired)"}


# -- the CLI says them in words and exits non-zero -------------------------------
@pytest.fixture
def cli_db(tmp_path, monkeypatch):
    monkeypatch.delenv("CAUSEWAY_API_KEY", raising=False)
    db = f"sqlite:///{tmp_path}/hub.db"
    assert main(["init", "--db", db]) == 0
    assert main(["org", "import", "--db", db]) == 0
    return db


def _refused(capsys, *argv) -> str:
    capsys.readouterr()
    code = main([*argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("causeway-hub: ")
    assert not HTTP_WORDS.search(re.sub(r"/\S+", "", err)), err  # file paths may hold any digits
    return err


def test_cli_reports_an_unknown_subscription_in_words(cli_db, capsys):
    err = _refused(capsys, "subscription", "status", "no-such-subscription", "--db", cli_db)
    assert "subscription no-such-subscription does not exist or is not visible to your organisation" in err


def test_cli_reports_a_refused_transition_in_words(cli_db, capsys):
    assert main(["policy", "apply", str(POLICIES / f"{REFERRAL}.yaml"), "--db", cli_db]) == 0
    err = _refused(capsys, "policy", "transition", REFERRAL, "active", "--db", cli_db)
    assert f"version 1 of {REFERRAL} is draft; it cannot move to active" in err


def test_cli_reports_a_bad_consent_file_naming_it(cli_db, capsys, tmp_path):
    csv = tmp_path / "consents.csv"
    csv.write_text("subject,purpose\nS1,ServiceProvision\n")
    err = _refused(capsys, "consent", "import", str(csv), "--controller", "edinburgh", "--db", cli_db)
    assert f"{csv}: CSV header (line 1): missing column(s) recipients" in err


def test_cli_lists_each_mistake_on_its_own_line():
    error = errors.InvalidContent("the agreement has 2 problem(s)", title="Agreement not valid", problems=[
        {"path": "datasets.referral.fields[6]", "line": 25, "message": "'goalz' is not a field"},
        {"path": "", "line": 3, "column": 7, "message": "not valid YAML"}])
    assert report(error) == (2, "Agreement not valid:\n"
                                "  line 25: datasets.referral.fields[6]: 'goalz' is not a field\n"
                                "  line 3, column 7: (document): not valid YAML")
    assert report(errors.Unavailable("the database cannot be reached")) == (69, "the database cannot be reached")
