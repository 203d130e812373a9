"""JSON APIs of local systems: a paged reader as source, a POST as sink.

Source options
  url              first page, e.g. https://planning.local/api/applications
  params           query parameters added to the first request
  records_path     dotted path to the records in each page ("data.items"); default: the page is the array
  paging           next | offset | none (default next)
  next_path        dotted path to the next page's link (default "next"); empty or absent ends
  offset_param, limit_param, page_size   for offset paging (defaults offset, limit, 100)
  since_param, since_field   optional: ask only for records changed since the largest
                   since_field value of the previous run
  identity         field path(s) identifying a record (default "id")
  fields           {name: dotted path} to pick fields; default the whole record
  auth_env         environment variable holding the auth header's value (e.g. "Bearer ...")
  auth_header      header name (default Authorization)
  timeout          seconds (default 30)

The credential is read from the environment, sent only to the API's own origin
(a next link to another host is refused), and never written to logs or errors.
"""
from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qsl, urljoin, urlsplit

import requests

from .base import Chunk, ConnectorError, RowError, SourceRow
from .base import Sink as BaseSink
from .base import Source as BaseSource
from .files import json_path_value
from .options import Options, content_version

USER_AGENT = "causeway-agent"


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _session(opts: Options) -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    session.headers["Accept"] = "application/json"
    header = opts.str("auth_header", "Authorization")
    secret = opts.env_secret("auth_env", None)
    if secret is not None:
        session.headers[header] = secret
    session.trust_env = False  # no proxy or .netrc surprises: the agent talks to the system it was told to
    return session


def _described(response: requests.Response) -> str:
    body = response.text[:200].strip().replace("\n", " ")
    return f"HTTP {response.status_code} {response.reason}" + (f": {body}" if body else "")


def _request(session: requests.Session, method: str, url: str, timeout: float, **kwargs) -> requests.Response:
    shown = url.split("?", 1)[0]
    try:
        response = session.request(method, url, timeout=timeout, allow_redirects=False, **kwargs)
    except requests.Timeout:
        raise ConnectorError(f"{method} {shown}: no answer within {timeout} s") from None
    except requests.ConnectionError as exc:
        reason = str(exc.args[0] if exc.args else exc)
        raise ConnectorError(f"{method} {shown}: cannot connect ({reason[:200]})") from None
    if response.status_code in (401, 403):
        raise ConnectorError(
            f"{method} {shown}: {_described(response)} (check the credential in the auth_env variable)"
        )
    if not 200 <= response.status_code < 300:
        raise ConnectorError(f"{method} {shown}: {_described(response)}")
    return response


class Source(BaseSource):
    def __init__(self, options: dict, base_dir=None):
        super().__init__(options, base_dir)
        opts = Options("http source", options, self.base_dir)
        self.url = opts.str("url")
        if urlsplit(self.url).scheme not in ("http", "https"):
            raise opts.fail("url", "must be an http:// or https:// address")
        self.params = opts.mapping("params", {})
        self.records_path = opts.str("records_path", "")
        self.paging = opts.choice("paging", ("next", "offset", "none"), "next")
        self.next_path = opts.str("next_path", "next")
        self.offset_param = opts.str("offset_param", "offset")
        self.limit_param = opts.str("limit_param", "limit")
        self.page_size = opts.int("page_size", 100, minimum=1)
        self.since_param = opts.str("since_param", None)
        self.since_field = opts.str("since_field", None)
        if (self.since_param is None) != (self.since_field is None):
            raise ConnectorError("http source: give both since_param and since_field, or neither")
        self.identity = opts.str_list("identity", ["id"])
        self.fields = opts.mapping("fields", None)
        self.timeout = opts.number("timeout", 30, minimum=0.1)
        self.session = _session(opts)
        opts.finish()

    def check(self) -> str:
        response = self._get(self.url, self._first_params({}))
        records = self._records(response, self.url)
        return f"JSON API {self.url.split('?', 1)[0]} ({len(records)} record(s) on the first page)"

    def _first_params(self, checkpoint: dict) -> dict:
        params = dict(self.params)
        if self.since_param and checkpoint.get("since") is not None:
            params[self.since_param] = checkpoint["since"]
        if self.paging == "offset":
            params[self.limit_param] = self.page_size
            params[self.offset_param] = 0
        return params

    def _get(self, url: str, params: dict | None) -> requests.Response:
        return _request(self.session, "GET", url, self.timeout, params=params)

    def _records(self, response: requests.Response, url: str) -> list:
        try:
            page = response.json()
        except ValueError:
            raise ConnectorError(f"GET {url.split('?', 1)[0]}: the answer is not JSON") from None
        records = json_path_value(page, self.records_path) if self.records_path else page
        if not isinstance(records, list):
            where = repr(self.records_path) if self.records_path else "the top level"
            raise ConnectorError(f"GET {url.split('?', 1)[0]}: no array of records at {where}")
        self._page = page
        return records

    def read(self, checkpoint: dict | None) -> Iterator[Chunk]:
        checkpoint = dict(checkpoint or {})
        since = checkpoint.get("since")
        # An interrupted run resumes at the page it had not yet committed.
        url, params = checkpoint.get("next_url"), None
        offset = checkpoint.get("offset")
        if url is None:
            url, params = self.url, self._first_params(checkpoint)
            if offset is not None:
                params[self.offset_param] = offset
        else:
            params = None
        offset = offset or 0
        page_number = checkpoint.get("page", 0)
        while True:
            response = self._get(url, params)
            records = self._records(response, response.url)
            page_number += 1
            rows, errors = [], []
            for index, record in enumerate(records, start=1):
                item = self._row(record, response.url, page_number, index)
                (errors if isinstance(item, RowError) else rows).append(item)
                if self.since_field and isinstance(record, dict):
                    value = json_path_value(record, self.since_field)
                    if value is not None and (since is None or str(value) > str(since)):
                        since = value
            following = self._following(response.url, len(records))
            offset += len(records)
            if following is None:
                done = {"since": since} if self.since_field else {}
                yield Chunk(rows, done, errors)
                return
            url, params = following
            position = {"page": page_number, "since": checkpoint.get("since")}
            if self.paging == "next":
                position["next_url"] = url
            else:
                position["offset"] = offset
            yield Chunk(rows, position, errors)

    def _following(self, current_url: str, count: int):
        """(url, params) of the next page, or None after the last."""
        if self.paging == "none":
            return None
        if self.paging == "offset":
            if count < self.page_size:
                return None
            split = urlsplit(current_url)
            base = split._replace(query="").geturl()
            params = dict(parse_qsl(split.query, keep_blank_values=True))
            params[self.offset_param] = int(params.get(self.offset_param, 0)) + count
            return base, params
        link = json_path_value(self._page, self.next_path) if isinstance(self._page, (dict, list)) else None
        if not link:
            return None
        target = urljoin(current_url, str(link))
        if _origin(target) != _origin(self.url):
            # Following it would hand our credential to another host.
            raise ConnectorError(f"the next-page link points to another site ({_origin(target)[1]}); refused")
        return target, None

    def _row(self, record, url: str, page: int, index: int) -> SourceRow | RowError:
        location = {"url": url.split("?", 1)[0], "page": page, "record": index}
        if not isinstance(record, dict):
            return RowError(location, f"record is a {type(record).__name__}, not an object")
        values = [json_path_value(record, f) for f in self.identity]
        if any(v in (None, "") for v in values):
            return RowError(location, f"record has no {', '.join(self.identity)}", record)
        data = record if self.fields is None else {n: json_path_value(record, p) for n, p in self.fields.items()}
        identity = "|".join(str(v) for v in values)
        location["identity"] = identity
        return SourceRow(data, location, identity, content_version(data))


class Sink(BaseSink):
    """POSTs delivered events as JSON to a local system.

    Options: url, auth_env, auth_header, batch (true: one POST with the list of
    events, default; false: one POST per event), timeout. Any answer but 2xx
    raises ConnectorError, so the agent does not move its feed cursor on."""

    def __init__(self, options: dict, base_dir=None):
        super().__init__(options, base_dir)
        opts = Options("http sink", options, self.base_dir)
        self.url = opts.str("url")
        if urlsplit(self.url).scheme not in ("http", "https"):
            raise opts.fail("url", "must be an http:// or https:// address")
        self.batch = opts.bool("batch", True)
        self.timeout = opts.number("timeout", 30, minimum=0.1)
        self.session = _session(opts)
        opts.finish()

    def check(self) -> str:
        return f"POST to {self.url.split('?', 1)[0]}"

    def write(self, events: list[dict]) -> None:
        if not events:
            return
        if self.batch:
            _request(self.session, "POST", self.url, self.timeout, json=events)
            return
        for event_ in events:
            _request(self.session, "POST", self.url, self.timeout, json=event_)
