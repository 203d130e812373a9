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

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import requests

from .base import Chunk, ConnectorError, RowError, SourceRow
from .base import Sink as BaseSink
from .base import Source as BaseSource
from .files import json_path_value
from .options import Schema, content_version, env_secret, names, options_schema, text_or_list

USER_AGENT = "causeway-agent"


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


HTTP_URL: Schema = {"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://", "x-message": "must be an http:// or https:// address"}
CONNECTION_OPTIONS: dict[str, Schema] = {
    "auth_env": {"type": "string", "minLength": 1,
                 "description": "environment variable holding the auth header's value (e.g. \"Bearer ...\")"},
    "auth_header": {"type": "string", "minLength": 1, "default": "Authorization", "description": "header name"},
    "timeout": {"type": "number", "minimum": 0.1, "default": 30, "description": "seconds"},
}


def _session(what: str, options: Mapping[str, Any]) -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    session.headers["Accept"] = "application/json"
    secret = env_secret(what, "auth_env", options.get("auth_env"))
    if secret is not None:
        session.headers[options["auth_header"]] = secret
    session.trust_env = False  # no proxy or .netrc surprises: the agent talks to the system it was told to
    return session


def _described(response: requests.Response) -> str:
    body = response.text[:200].strip().replace("\n", " ")
    return f"HTTP {response.status_code} {response.reason}" + (f": {body}" if body else "")


def _request(session: requests.Session, method: str, url: str, timeout: float, **kwargs: Any) -> requests.Response:
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


_NAME: Schema = {"type": "string", "minLength": 1}


class Source(BaseSource):
    options_schema = options_schema({
        "url": {**HTTP_URL, "description": "the first page"},
        "params": {"type": "object", "default": {}, "description": "query parameters added to the first request"},
        "records_path": {"type": "string", "default": "",
                         "description": "dotted path to the records in each page; default: the page is the array"},
        "paging": {"enum": ["next", "offset", "none"], "default": "next"},
        "next_path": {**_NAME, "default": "next", "description": "dotted path to the next page's link"},
        "offset_param": {**_NAME, "default": "offset"},
        "limit_param": {**_NAME, "default": "limit"},
        "page_size": {"type": "integer", "minimum": 1, "default": 100},
        "since_param": {**_NAME, "description": "ask only for records changed since the last run's largest since_field"},
        "since_field": _NAME,
        "identity": {**text_or_list("field path(s) identifying a record"), "default": "id"},
        "fields": {"type": "object", "additionalProperties": {"type": "string", "minLength": 1},
                   "x-message": "must map each field name to a dotted path"},
        **CONNECTION_OPTIONS,
    }, {"required": ["url"]}, {
        "dependentRequired": {"since_param": ["since_field"], "since_field": ["since_param"]},
        "x-message": "give both since_param and since_field, or neither",
    }, description="a JSON API read page by page")

    def __init__(self, options: Mapping[str, Any] | None, base_dir: Path | str | None = None):
        super().__init__(options, base_dir)
        opts = self.options
        self.url: str = opts["url"]
        self.params: dict[str, Any] = opts["params"]
        self.records_path: str = opts["records_path"]
        self.paging: str = opts["paging"]
        self.next_path: str = opts["next_path"]
        self.offset_param: str = opts["offset_param"]
        self.limit_param: str = opts["limit_param"]
        self.page_size: int = opts["page_size"]
        self.since_param: str | None = opts.get("since_param")
        self.since_field: str | None = opts.get("since_field")
        self.identity: list[str] = names(opts["identity"]) or ["id"]
        self.fields: dict[str, str] | None = opts.get("fields")
        self.timeout: float = opts["timeout"]
        self.session = _session(self.what(), opts)
        self._page: Any = None

    def check(self) -> str:
        response = self._get(self.url, self._first_params({}))
        records = self._records(response, self.url)
        return f"JSON API {self.url.split('?', 1)[0]} ({len(records)} record(s) on the first page)"

    def _first_params(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        params = dict(self.params)
        if self.since_param and checkpoint.get("since") is not None:
            params[self.since_param] = checkpoint["since"]
        if self.paging == "offset":
            params[self.limit_param] = self.page_size
            params[self.offset_param] = 0
        return params

    def _get(self, url: str, params: dict[str, Any] | None) -> requests.Response:
        return _request(self.session, "GET", url, self.timeout, params=params)

    def _records(self, response: requests.Response, url: str) -> list[Any]:
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

    def read(self, checkpoint: dict[str, Any] | None) -> Iterator[Chunk]:
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
            rows: list[SourceRow] = []
            errors: list[RowError] = []
            for index, record in enumerate(records, start=1):
                item = self._row(record, response.url, page_number, index)
                if isinstance(item, RowError):
                    errors.append(item)
                else:
                    rows.append(item)
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

    def _following(self, current_url: str, count: int) -> tuple[str, dict[str, Any] | None] | None:
        """(url, params) of the next page, or None after the last."""
        if self.paging == "none":
            return None
        if self.paging == "offset":
            if count < self.page_size:
                return None
            split = urlsplit(current_url)
            base = split._replace(query="").geturl()
            params: dict[str, Any] = dict(parse_qsl(split.query, keep_blank_values=True))
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

    def _row(self, record: Any, url: str, page: int, index: int) -> SourceRow | RowError:
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

    options_schema = options_schema({
        "url": HTTP_URL,
        "batch": {"type": "boolean", "default": True,
                  "description": "true: one POST with the list of events; false: one POST per event"},
        **CONNECTION_OPTIONS,
    }, {"required": ["url"]}, description="POSTs delivered events as JSON")

    def __init__(self, options: Mapping[str, Any] | None, base_dir: Path | str | None = None):
        super().__init__(options, base_dir)
        self.url: str = self.options["url"]
        self.batch: bool = self.options["batch"]
        self.timeout: float = self.options["timeout"]
        self.session = _session(self.what(), self.options)

    def check(self) -> str:
        return f"POST to {self.url.split('?', 1)[0]}"

    def write(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        if self.batch:
            _request(self.session, "POST", self.url, self.timeout, json=events)
            return
        for event_ in events:
            _request(self.session, "POST", self.url, self.timeout, json=event_)
