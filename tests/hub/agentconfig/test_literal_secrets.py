"""A hub-managed configuration names where secrets are kept, never holds them: each way a
secret can be written into one is found, with its place, and references pass."""
import pytest

from hub.agentconfig.secrets import literal_secrets


def options(**given) -> dict:
    return {"tasks": [{"name": "cases", "connector": {"kind": "sql", "options": given}}]}


@pytest.mark.parametrize("given, field", [
    ({"password": "hunter2"}, "tasks[0].connector.options.password"),
    ({"api_token": "abc"}, "tasks[0].connector.options.api_token"),
    ({"client_secret": "abc"}, "tasks[0].connector.options.client_secret"),
    ({"url": "postgresql+psycopg://reader:hunter2@db/cases"}, "tasks[0].connector.options.url"),
    ({"url": "mssql+pyodbc://@SQL01/Caselink?odbc_connect=DRIVER%3Dx;UID=reader;PWD=hunter2"},
     "tasks[0].connector.options.url"),
    ({"connection_string": "Server=x;Database=y"}, "tasks[0].connector.options.connection_string"),
])
def test_a_secret_written_in_is_found_where_it_is_and_never_repeated(given, field):
    found = literal_secrets(options(**given))
    assert [f["field"] for f in found] == [field]
    assert "hunter2" not in found[0]["message"] and "_env" in found[0]["message"]


def test_references_to_secrets_and_ordinary_values_pass():
    assert literal_secrets(options(url="postgresql+psycopg://reader@db/cases", password_env="CASES_PASSWORD",
                                   key_file="/etc/causeway/key", table="cases", auth_header="Authorization")) == []
    assert literal_secrets({"tasks": [{"mapping": {"subject": {"from": "client_no",
                                                               "hash_key_env": "CAUSEWAY_SUBJECT_KEY"}}}]}) == []
    assert literal_secrets(options(password=None)) == []  # nothing written, nothing leaked
