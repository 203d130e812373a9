"""Connectors are found through the causeway.connectors entry point."""
import pytest

import connectors
from connectors import ConnectorError


@pytest.mark.parametrize("kind, source, sink", [
    ("spreadsheet", True, True), ("sql", True, True), ("files", True, False), ("http", True, True),
])
def test_every_connector_is_registered(kind, source, sink):
    module = connectors.connector_module(kind)
    assert hasattr(module, "Source") is source
    assert hasattr(module, "Sink") is sink


def test_unknown_connector_lists_the_installed_ones():
    with pytest.raises(ConnectorError, match=r"unknown connector 'caselink'; installed connectors: .*files.*spreadsheet"):
        connectors.load_source("caselink", {})


def test_files_cannot_be_a_sink(tmp_path):
    with pytest.raises(ConnectorError, match="connector 'files' cannot be a sink"):
        connectors.load_sink("files", {}, tmp_path)
