"""Every outbound webhook the hub sends (subscription deliveries and data-return
reminders) goes through one WebhookSender: the destination is resolved and checked
(hub.delivery.destinations), the body is signed per Standard Webhooks, and it is
POSTed to the very address that was checked, with the URL's host name kept for the
Host header, TLS SNI and certificate verification. 15 s timeout, no redirects, no
environment proxy.

How answers are read:
  2xx                      delivered
  410 Gone                 the subscriber ended it: the subscription is disabled
  400, 413, 415, 422       this event is refused for good: dead letters, the rest flow
  anything else, timeouts  try again later (honouring Retry-After), cursor held

The webhook channel sends CloudEvents 1.0 structured JSON (or a batch array).
"""
from __future__ import annotations

import socket
import threading
import time
from email.utils import parsedate_to_datetime

import certifi
import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError, ReadTimeoutError

from . import reply, signing
from .channel import Message, Outcome, Target
from .destinations import Destination, DestinationRefused, check_url

PERMANENT = {400, 413, 415, 422}
SINGLE = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
MAX_ANSWER_BYTES = 64 * 1024  # what is read of a receiver's answer before the connection is dropped


def encode(message: Message) -> tuple[bytes, str]:
    return message.encoded(), BATCH if message.batch else SINGLE


def retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class WebhookSender:
    """Checks, signs and POSTs one webhook; answers an Outcome, never raises."""

    def __init__(self, allow: tuple[str, ...] = (), timeout: float = 15.0, user_agent: str = "causeway-hub",
                 check_every: float = 60.0, resolve=socket.getaddrinfo, ca_certs: str | None = None):
        self.allow = tuple(allow)
        self.timeout = timeout
        self.user_agent = user_agent
        self.resolve = resolve
        self._check_every = check_every
        self._checked: dict[str, tuple[float, Destination]] = {}
        self._lock = threading.Lock()
        # Pools are keyed by (scheme, address, port, SNI name): a checked address is never looked up again.
        self._pools = urllib3.PoolManager(num_pools=256, cert_reqs="CERT_REQUIRED",
                                          ca_certs=ca_certs or certifi.where(), retries=False)

    def destination(self, url: str) -> Destination:
        """The checked destination of a URL, resolved anew at most every `check_every` seconds."""
        now = time.monotonic()
        with self._lock:
            cached = self._checked.get(url)
        if cached is not None and now - cached[0] < self._check_every:
            return cached[1]
        found = check_url(url, self.allow, self.resolve)
        with self._lock:
            if len(self._checked) > 10_000:
                self._checked.clear()
            self._checked[url] = (now, found)
        return found

    def send(self, url: str, secrets: list[str], webhook_id: str, body: bytes, content_type: str) -> Outcome:
        try:
            destination = self.destination(url)
        except DestinationRefused as exc:
            return Outcome("failed", error=f"destination refused: {exc}")
        headers = signing.sign(secrets, webhook_id, body)
        headers.update({"content-type": content_type, "user-agent": self.user_agent,
                        "host": destination.host_header})
        timeout = urllib3.Timeout(connect=self.timeout, read=self.timeout)
        tls = {"server_hostname": destination.host, "assert_hostname": destination.host} \
            if destination.scheme == "https" else None
        failure = Outcome("failed", error="could not connect")
        started = time.monotonic()
        for address in destination.addresses:  # each one was checked; try the next if one does not answer
            pool = self._pools.connection_from_host(address, destination.port, destination.scheme, pool_kwargs=tls)
            try:
                response = pool.urlopen("POST", destination.target, body=body, headers=headers, redirect=False,
                                        retries=False, timeout=timeout, preload_content=False,
                                        assert_same_host=False)
            except (NewConnectionError, ConnectTimeoutError) as exc:
                failure = Outcome("failed", error=f"could not connect: {type(exc).__name__}")
                continue
            except ReadTimeoutError:
                return Outcome("failed", error=f"no answer within {self.timeout:g} s")
            except HTTPError as exc:
                return Outcome("failed", error=f"could not connect: {type(exc).__name__}")
            return _answer(response, started)
        return failure

    def close(self) -> None:
        self._pools.clear()


def _answer(response, started: float) -> Outcome:
    status = response.status
    body = b""
    try:
        body = response.read(MAX_ANSWER_BYTES)
        complete = len(body) < MAX_ANSWER_BYTES
    except HTTPError:
        complete = False
    latency_ms = round((time.monotonic() - started) * 1000)
    if complete:
        response.release_conn()
    else:  # a long or broken answer: the connection is not reused
        response.close()
    ok = 200 <= status < 300
    said = reply.of_answer(response.headers, body, reply.SUCCESS_EXCERPT_BYTES if ok else reply.EXCERPT_BYTES,
                           latency_ms)
    if ok:
        return Outcome("ok", status, reply=said)
    if status == 410:
        return Outcome("gone", status, "the endpoint answered 410 Gone", reply=said)
    if status in PERMANENT:
        return Outcome("refused", status, f"the endpoint refused the event with {status}", reply=said)
    return Outcome("failed", status, f"the endpoint answered {status}",
                   retry_after=retry_after(response.headers.get("retry-after")), reply=said)


class WebhookChannel:
    name = "webhook"

    def __init__(self, allow: tuple[str, ...] = (), timeout: float = 15.0, user_agent: str = "causeway-hub",
                 sender: WebhookSender | None = None):
        self.sender = sender or WebhookSender(allow, timeout, user_agent)

    def deliver(self, target: Target, messages: list[Message]) -> list[Outcome]:
        outcomes = []
        for message in messages:
            body, content_type = encode(message)
            outcome = self.sender.send(target.url or "", target.secrets, message.webhook_id, body, content_type)
            outcomes.append(outcome)
            if not outcome.done:
                break
        return outcomes

    def close(self) -> None:
        self.sender.close()
