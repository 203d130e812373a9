"""The agent's only way to the hub: outbound HTTPS calls, through a proxy if set.

Every call goes through a Transport, the seam tests may replace; the real one is
a requests.Session honouring HTTPS_PROXY / a configured proxy and a custom CA
bundle. Errors come in two kinds: HubUnavailable (no answer, 5xx, 429: try
again later) and HubRefused (a 4xx problem the operator or the code must fix).
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote

import orjson
import requests

from agents import __version__
from causeway_common.canonical import canonical_json
from causeway_common.signing import sign_manifest

log = logging.getLogger("causeway.agent.hub")


class HubError(Exception):
    pass


class HubUnavailable(HubError):
    """The hub did not answer usefully (down, unreachable, overloaded): try again later."""


class HubRefused(HubError):
    """The hub answered with a 4xx problem."""

    def __init__(self, status: int, problem: dict, what: str):
        self.status = status
        self.problem = problem
        self.type = problem.get("type", "about:blank")
        detail = problem.get("detail") or problem.get("title") or f"HTTP {status}"
        super().__init__(f"the hub refused {what} ({status}): {detail}")


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict

    def json(self):
        return orjson.loads(self.body) if self.body else None


class Transport:
    """One HTTP exchange. Raise ConnectionError (the builtin) when no answer came back."""

    def request(self, method: str, url: str, *, headers: dict, body: bytes | None, timeout: float) -> Response:
        raise NotImplementedError


class RequestsTransport(Transport):
    """One requests.Session (its own connection) per thread: the sender's batches in flight
    at once each go over their own connection."""

    def __init__(self, proxy: str | None = None, ca_bundle: str | None = None):
        self.proxy = proxy
        # Passed with every request: requests lets REQUESTS_CA_BUNDLE override a session-level
        # bundle, but never one given explicitly, and hub.ca_bundle must win.
        self.ca_bundle = ca_bundle
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    @property
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            # trust_env stays on: HTTPS_PROXY, NO_PROXY and REQUESTS_CA_BUNDLE apply unless overridden here.
            if self.proxy:
                session.proxies.update({"http": self.proxy, "https": self.proxy})
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def request(self, method, url, *, headers, body, timeout):
        try:
            answer = self.session.request(method, url, headers=headers, data=body, timeout=timeout,
                                          **({"verify": self.ca_bundle} if self.ca_bundle else {}))
        except requests.exceptions.SSLError as exc:
            raise ConnectionError(f"TLS failed ({_reason(exc)}); if the hub or your proxy uses a private CA, "
                                  "set hub.ca_bundle in agent.yaml to its PEM file") from None
        except requests.exceptions.ProxyError as exc:
            raise ConnectionError(f"the proxy refused or is unreachable ({_reason(exc)}); check HTTPS_PROXY or hub.proxy") from None
        except requests.exceptions.Timeout:
            raise ConnectionError(f"no answer within {timeout:g} s") from None
        except requests.exceptions.RequestException as exc:
            raise ConnectionError(_reason(exc)) from None
        return Response(answer.status_code, answer.content, dict(answer.headers))

    def close(self):
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()


def _reason(exc: Exception) -> str:
    text = str(exc)
    tunnel = re.search(r"Tunnel connection failed: (\d{3}[^'\")]*)", text)
    if tunnel:  # the proxy's own answer to CONNECT, e.g. 407 Proxy Authentication Required
        return tunnel.group(1).strip()
    for marker in ("Connection refused", "Name or service not known", "No route to host",
                   "certificate verify failed", "timed out", "Temporary failure in name resolution"):
        if marker in text:
            return marker.lower()
    return text.split(": ", 1)[-1][:200]


@dataclass
class PublishAnswer:
    batch_id: str
    results: list[dict]  # per record, in order: {status: accepted|duplicate|rejected, errors?}


def batch_body(bodies: list[str], manifest: dict, signature: str) -> bytes:
    """The publish request, joined from the records' stored canonical JSON (no re-encoding)."""
    head = b'{"records":[' + ",".join(bodies).encode("utf-8") + b"],"
    tail = json.dumps({"manifest": manifest, "signature": signature}, separators=(",", ":")).encode("utf-8")[1:]
    return head + tail


def manifest_for(bodies: list[str], batch_id: str, agent_id: str) -> dict:
    """As causeway_common.signing.build_manifest, from canonical bodies already at hand."""
    return {
        "batch_id": batch_id,
        "agent_id": agent_id,
        "created_at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        "record_digests": [_sha256_hex(b.encode("utf-8")) for b in bodies],
    }


_SHA256 = hashlib.sha256()


def _sha256_hex(data: bytes) -> str:
    """hashlib.sha256(data).hexdigest(), from a copy of a made hash object: each new one looks the
    algorithm up again in OpenSSL, which costs about as much as hashing a record."""
    digest = _SHA256.copy()
    digest.update(data)
    return digest.hexdigest()


class HubClient:
    def __init__(self, base_url: str, api_key: str | None = None, transport: Transport | None = None,
                 timeout: float = 60.0):
        self.base_url = base_url.rstrip("/")
        if not self.base_url.endswith("/api/v1"):
            self.base_url += "/api/v1"
        self._api_key = api_key
        self.transport = transport or RequestsTransport()
        self.timeout = timeout

    def __repr__(self):
        return f"HubClient({self.base_url!r})"

    def _call(self, method: str, path: str, what: str, body: bytes | None = None, auth: bool = True):
        headers = {"Accept": "application/json", "User-Agent": f"causeway-agent/{__version__}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if auth and self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        url = self.base_url + path
        try:
            answer = self.transport.request(method, url, headers=headers, body=body, timeout=self.timeout)
        except ConnectionError as exc:
            raise HubUnavailable(f"cannot reach the hub at {self.base_url} for {what}: {exc}") from None
        if answer.status >= 500 or answer.status == 429:
            raise HubUnavailable(f"the hub at {self.base_url} answered {answer.status} to {what}; will retry")
        if answer.status >= 400:
            try:
                problem = answer.json() or {}
            except ValueError:
                problem = {"detail": answer.body[:200].decode("utf-8", "replace")}
            if answer.status == 401 and not problem.get("detail"):
                problem["detail"] = "the agent's credential was not accepted (revoked? enrol the agent again)"
            raise HubRefused(answer.status, problem, what)
        try:
            return answer.json()
        except ValueError:
            raise HubUnavailable(f"the hub at {self.base_url} answered {what} with something that is not JSON "
                                 "(a proxy's error page?)") from None

    # -- enrolment ----------------------------------------------------------
    def enrol(self, token: str, public_key: str, name: str) -> dict:
        body = canonical_json({"token": token, "public_key": public_key, "name": name, "version": __version__})
        return self._call("POST", "/agents/enrol", "the enrolment", body, auth=False)

    def health(self) -> dict:
        return self._call("GET", "/health", "a health check", auth=False)

    # -- catalogue ----------------------------------------------------------
    def dataset(self, name: str) -> dict:
        return self._call("GET", f"/datasets/{quote(name)}", f"dataset {name}")

    def schema(self, name: str, version: int) -> dict:
        return self._call("GET", f"/datasets/{quote(name)}/schemas/{int(version)}", f"schema {name} v{version}")

    # -- publishing ---------------------------------------------------------
    def publish(self, bodies: list[str], agent_id: str, signing_key) -> PublishAnswer:
        """Sign and send one batch; a fresh batch id and manifest every call."""
        batch_id = str(uuid.uuid4())
        manifest = manifest_for(bodies, batch_id, agent_id)
        signature = sign_manifest(manifest, signing_key)
        answer = self._call("POST", "/records", f"a batch of {len(bodies)} records",
                            batch_body(bodies, manifest, signature))
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list) or len(results) != len(bodies):
            raise HubUnavailable("the hub's answer to a batch did not carry one result per record; will retry")
        return PublishAnswer(answer.get("batch_id", batch_id), results)

    # -- health -------------------------------------------------------------
    def heartbeat(self, agent_id: str, report: dict) -> dict:
        return self._call("POST", f"/agents/{quote(agent_id)}/heartbeats", "a heartbeat", canonical_json(report))

    # -- hub-managed configuration --------------------------------------------
    def agent_configuration(self, agent_id: str) -> dict:
        """The newest approved configuration version: {version, source} (both None when there is none)."""
        return self._call("GET", f"/agents/{quote(agent_id)}/configuration/current", "the agent's configuration")

    def report_configuration(self, agent_id: str, version: int, outcome: str, error: str | None = None) -> dict:
        body = {"version": int(version), "outcome": outcome, **({"error": error} if error else {})}
        return self._call("POST", f"/agents/{quote(agent_id)}/configuration/reports",
                          f"a report on configuration version {version}", canonical_json(body))

    # -- subscriptions (pull feed) ------------------------------------------
    def feed(self, subscription: str, after: int | None, limit: int) -> dict:
        """Events after `after` (None: from the position the hub holds for the subscription)."""
        query = f"limit={int(limit)}" + (f"&after={int(after)}" if after is not None else "")
        return self._call("GET", f"/subscriptions/{quote(subscription)}/feed?{query}",
                          f"the feed of subscription {subscription}")

    def ack(self, subscription: str, seq: int) -> dict:
        return self._call("POST", f"/subscriptions/{quote(subscription)}/ack",
                          f"an acknowledgement to subscription {subscription}", canonical_json({"seq": int(seq)}))
