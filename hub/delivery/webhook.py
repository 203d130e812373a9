"""Webhook channel: CloudEvents 1.0 structured JSON (or a batch array) POSTed to the
subscriber's URL, signed per Standard Webhooks, 15 s timeout, no redirects.

How answers are read:
  2xx                      delivered
  410 Gone                 the subscriber ended it: the subscription is disabled
  400, 413, 415, 422       this event is refused for good: dead letters, the rest flow
  anything else, timeouts  try again later (honouring Retry-After), cursor held
"""
from __future__ import annotations

import json
import threading
import time
from email.utils import parsedate_to_datetime

import requests

from . import signing
from .channel import Message, Outcome, Target
from .destinations import DestinationRefused, check_url

PERMANENT = {400, 413, 415, 422}
SINGLE = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


def encode(message: Message) -> tuple[bytes, str]:
    if message.batch:
        return json.dumps(message.events, separators=(",", ":"), ensure_ascii=False).encode("utf-8"), BATCH
    return json.dumps(message.events[0], separators=(",", ":"), ensure_ascii=False).encode("utf-8"), SINGLE


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


class WebhookChannel:
    name = "webhook"

    def __init__(self, allow: tuple[str, ...] = (), timeout: float = 15.0, user_agent: str = "causeway-hub",
                 check_every: float = 60.0):
        self.allow = allow
        self.timeout = timeout
        self.user_agent = user_agent
        self._local = threading.local()
        self._checked: dict[str, float] = {}
        self._check_every = check_every

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.trust_env = False  # never route subscriber traffic through an environment proxy
        return session

    def _check(self, url: str) -> None:
        now = time.monotonic()
        if now - self._checked.get(url, -1e9) > self._check_every:
            check_url(url, self.allow)
            self._checked[url] = now

    def deliver(self, target: Target, messages: list[Message]) -> list[Outcome]:
        try:
            self._check(target.url or "")
        except DestinationRefused as exc:
            return [Outcome("failed", error=f"destination refused: {exc}")]
        outcomes = []
        for message in messages:
            outcome = self.send(target, message)
            outcomes.append(outcome)
            if not outcome.done:
                break
        return outcomes

    def send(self, target: Target, message: Message) -> Outcome:
        body, content_type = encode(message)
        headers = signing.sign(target.secrets, message.webhook_id, body)
        headers["content-type"] = content_type
        headers["user-agent"] = self.user_agent
        try:
            response = self._session().post(target.url, data=body, headers=headers, timeout=self.timeout,
                                            allow_redirects=False)
        except requests.Timeout:
            return Outcome("failed", error=f"no answer within {self.timeout:g} s")
        except requests.RequestException as exc:
            return Outcome("failed", error=f"could not connect: {type(exc).__name__}")
        status = response.status_code
        response.close()
        if 200 <= status < 300:
            return Outcome("ok", status)
        if status == 410:
            return Outcome("gone", status, "the endpoint answered 410 Gone")
        if status in PERMANENT:
            return Outcome("refused", status, f"the endpoint refused the event with {status}")
        return Outcome("failed", status, f"the endpoint answered {status}",
                       retry_after=retry_after(response.headers.get("retry-after")))

    def close(self) -> None:
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()
