"""Options as data: the schema's messages name the option, the value and what was expected."""
import pytest

import connectors
from connectors import ConnectorError, connector_class, option_problems


@pytest.mark.parametrize("kind, role, options, message", [
    ("sql", "source", {"url": "sqlite:///x.db", "table": "t", "key": "id", "deletes": {"method": "keyset", "interval": 3}},
     "unknown key 'interval' of 'deletes'; known keys: interval_seconds, method"),
    ("sql", "source", {"url": "sqlite:///x.db", "table": "t", "key": []},
     "option 'key' must be a name or a non-empty list of names, not []"),
    ("sql", "source", {"url": "sqlite:///x.db", "key": "id"}, "give exactly one of 'table' or 'query'"),
    ("sql", "source", {"url": "sqlite:///x.db", "table": "t", "key": "id", "chunk_rows": "lots"},
     "option 'chunk_rows' must be a whole number, not 'lots'"),
    ("http", "source", {"url": "ftp://planning.local/"}, "option 'url' must be an http:// or https:// address, not 'ftp://planning.local/'"),
    ("http", "source", {"url": "https://planning.local/", "since_field": "updated"},
     "give both since_param and since_field, or neither"),
    ("spreadsheet", "source", {"path": "a.csv", "delimiter": ";;"},
     "option 'delimiter' must be one character or 'auto', not ';;'"),
    ("files", "source", {"path": "a.json", "fields": {"ref": 3}}, "option 'fields.ref' must be text, not 3"),
    ("spreadsheet", "sink", {"folder": "out", "format": "ods"},
     "option 'format' must be one of 'csv', 'xlsx', not 'ods'"),
])
def test_each_mistake_is_named(kind, role, options, message):
    schema = connector_class(kind, role).options_schema
    assert [p.message for p in option_problems(schema, options)] == [message]


def test_every_mistake_is_named_at_once_with_the_connector(tmp_path):
    with pytest.raises(ConnectorError) as caught:
        connectors.load_source("spreadsheet", {"path": "a.csv", "header_row": 0, "chunk_rows": 0}, tmp_path)
    assert str(caught.value) == ("spreadsheet source: option 'header_row' must be at least 1, not 0; "
                                 "option 'chunk_rows' must be at least 1, not 0")


def test_defaults_come_from_the_schema_and_empty_options_mean_the_default(tmp_path):
    source = connectors.load_source("spreadsheet", {"path": "a.csv", "sheet": None, "header_row": None}, tmp_path)
    assert (source.header_row, source.sheet, source.chunk_rows, source.files.settle_seconds) == (1, None, 2000, 10)
    assert source.options["format"] == "auto"


def test_options_must_be_a_mapping(tmp_path):
    with pytest.raises(ConnectorError, match="files source: options must be a mapping, not list"):
        connectors.load_source("files", ["path", "a.json"], tmp_path)


def test_a_refused_value_never_shows_a_password_in_a_url(tmp_path):
    with pytest.raises(ConnectorError) as caught:
        connectors.load_sink("http", {"url": "ftp://inbox:s3cret@files.council.local/in"}, tmp_path)
    assert "s3cret" not in str(caught.value) and "ftp://***@files.council.local/in" in str(caught.value)
