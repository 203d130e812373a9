"""The http connector against a real HTTP server on 127.0.0.1 in a thread."""
from urllib.parse import parse_qs, urlsplit

import pytest

import connectors
from connectors import ConnectorError
from support.local_http import JsonHandler, serving

TOKEN = "Bearer s3cret-token"
APPLICATIONS = [{"id": f"24/{i:05d}/FUL", "status": "registered", "updated": f"2024-03-{1 + i % 28:02d}"} for i in range(1, 26)]


class LocalSystem(JsonHandler):
    """A planning system's API: pages by next link (/next) or offset (/offset); takes POSTs at /inbox."""

    requests_seen: list
    posted: list
    fail_posts = False

    def do_GET(self):
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.server.requests_seen.append((url.path, query, self.headers.get("Authorization")))
        if self.headers.get("Authorization") != TOKEN:
            return self._send(401, {"title": "Unauthorized"})
        records = [a for a in APPLICATIONS if a["updated"] > query.get("since", "")]
        if url.path == "/next":
            page = int(query.get("page", 1))
            items = records[(page - 1) * 10: page * 10]
            more = page * 10 < len(records)
            return self._send(200, {"data": {"items": items}, "links": {"next": f"/next?page={page + 1}" if more else None}})
        if url.path == "/offset":
            offset, limit = int(query["offset"]), int(query["limit"])
            return self._send(200, {"results": records[offset: offset + limit]})
        if url.path == "/elsewhere":
            return self._send(200, {"data": {"items": APPLICATIONS[:1]}, "links": {"next": "http://example.org/steal"}})
        self._send(404, {"title": "Not Found"})

    def do_POST(self):
        body = self._body()
        if self.server.fail_posts:
            return self._send(503, {"title": "database locked"})
        self.server.posted.append((self.headers.get("Authorization"), body))
        self._send(202, {"accepted": True})


@pytest.fixture
def api():
    with serving(LocalSystem) as server:
        server.requests_seen, server.posted, server.fail_posts = [], [], False
        yield server


def base(api):
    return f"http://127.0.0.1:{api.server_address[1]}"


@pytest.fixture
def token(monkeypatch):
    monkeypatch.setenv("PLANNING_API_TOKEN", TOKEN)
    return "PLANNING_API_TOKEN"


def read_all(source, checkpoint=None):
    chunks = list(source.read(checkpoint))
    return [r for c in chunks for r in c.rows], chunks


def test_pages_by_next_link_with_the_auth_header(api, token, tmp_path):
    source = connectors.load_source("http", {
        "url": f"{base(api)}/next", "auth_env": token, "records_path": "data.items", "next_path": "links.next",
    }, tmp_path)
    assert "10 record(s) on the first page" in source.check()
    api.requests_seen.clear()
    rows, chunks = read_all(source)
    assert [r.data["id"] for r in rows] == [a["id"] for a in APPLICATIONS]
    assert [len(c.rows) for c in chunks] == [10, 10, 5]
    assert [q.get("page") for _, q, _ in api.requests_seen] == [None, "2", "3"]
    assert {auth for _, _, auth in api.requests_seen} == {TOKEN}
    assert rows[0].identity == "24/00001/FUL"
    # a crash after the first page: the re-run starts at page 2
    rows, _ = read_all(source, chunks[0].checkpoint)
    assert rows[0].data["id"] == "24/00011/FUL" and len(rows) == 15


def test_pages_by_offset_and_since(api, token, tmp_path):
    options = {"url": f"{base(api)}/offset", "auth_env": token, "records_path": "results", "paging": "offset",
               "page_size": 7, "since_param": "since", "since_field": "updated"}
    rows, chunks = read_all(connectors.load_source("http", options, tmp_path))
    assert len(rows) == 25 and len({r.identity for r in rows}) == 25
    assert [(q["offset"], q["limit"]) for _, q, _ in api.requests_seen] == [("0", "7"), ("7", "7"), ("14", "7"), ("21", "7")]
    assert chunks[-1].checkpoint == {"since": "2024-03-26"}
    api.requests_seen.clear()
    rows, _ = read_all(connectors.load_source("http", options, tmp_path), chunks[-1].checkpoint)
    assert rows == []
    assert api.requests_seen[0][1]["since"] == "2024-03-26"


def test_wrong_credential_is_named_and_never_shown(api, monkeypatch, tmp_path):
    monkeypatch.setenv("PLANNING_API_TOKEN", "Bearer wrong-value")
    source = connectors.load_source("http", {"url": f"{base(api)}/next", "auth_env": "PLANNING_API_TOKEN",
                                             "records_path": "data.items"}, tmp_path)
    with pytest.raises(ConnectorError, match="HTTP 401.*check the credential") as caught:
        source.check()
    assert "wrong-value" not in str(caught.value)


def test_next_link_to_another_site_is_refused(api, token, tmp_path):
    source = connectors.load_source("http", {"url": f"{base(api)}/elsewhere", "auth_env": token,
                                             "records_path": "data.items", "next_path": "links.next"}, tmp_path)
    with pytest.raises(ConnectorError, match="another site"):
        read_all(source)


def test_unreachable_api_is_named(tmp_path):
    from support.servers import free_port

    source = connectors.load_source("http", {"url": f"http://127.0.0.1:{free_port()}/api"}, tmp_path)
    with pytest.raises(ConnectorError, match="cannot connect"):
        source.check()


def test_sink_posts_events_and_fails_on_non_2xx(api, token, tmp_path):
    events = [{"specversion": "1.0", "id": "e1", "type": "uk.causeway.record.upsert", "subject": "R1", "sequence": 1,
               "data": {"name": "Ann"}}]
    sink = connectors.load_sink("http", {"url": f"{base(api)}/inbox", "auth_env": token}, tmp_path)
    sink.write(events)
    assert api.posted == [(TOKEN, events)]
    connectors.load_sink("http", {"url": f"{base(api)}/inbox", "auth_env": token, "batch": False}, tmp_path).write(events)
    assert api.posted[-1] == (TOKEN, events[0])
    api.fail_posts = True
    with pytest.raises(ConnectorError, match="HTTP 503.*database locked"):
        sink.write(events)
