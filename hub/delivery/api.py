"""Thin handlers for subscriptions, their status, dead letters, replay and the pull feed."""
from flask import Response

from hub.web import ok, principal, services


def _service():
    return services().delivery


def create_subscription(body):
    return ok(_service().subscribe(body, principal()), 201)


def list_subscriptions(org=None):
    return ok({"subscriptions": _service().list(principal(), org)})


def get_subscription(subscription_id):
    return ok(_service().get(subscription_id, principal()))


def delete_subscription(subscription_id):
    _service().delete(subscription_id, principal())
    return Response(status=204)


def subscription_status(subscription_id):
    return ok(_service().status(subscription_id, principal()))


def rotate_secret(subscription_id, body=None):
    grace = body.get("grace_seconds") if isinstance(body, dict) else None  # the body is optional
    return ok(_service().rotate_secret(subscription_id, principal(), grace))


def list_dead_letters(subscription_id, include_delivered=False):
    return ok({"dead_letters": _service().list_dead_letters(subscription_id, principal(), include_delivered)})


def retry_dead_letters(subscription_id):
    return ok({"queued": _service().retry_dead_letters(subscription_id, principal())}, 202)


def retry_dead_letter(subscription_id, letter_id):
    return ok({"queued": _service().retry_dead_letters(subscription_id, principal(), letter_id)}, 202)


def pause(subscription_id):
    return ok(_service().pause(subscription_id, principal()))


def resume(subscription_id):
    return ok(_service().resume(subscription_id, principal()))


def try_now(subscription_id):
    return ok(_service().try_now(subscription_id, principal()))


def list_attempts(subscription_id, limit=50):
    return ok({"attempts": _service().attempts(subscription_id, principal(), limit)})


def dead_letter_event(subscription_id, letter_id):
    return ok(_service().dead_letter_event(subscription_id, letter_id, principal()))


def replay(subscription_id, body):
    return ok(_service().replay(subscription_id, principal(), body.get("from_seq"), body.get("from_time")))


def feed(subscription_id, after=None, limit=100):
    return ok(_service().feed(subscription_id, principal(), after, limit))


def ack(subscription_id, body):
    return ok(_service().ack(subscription_id, principal(), body["seq"]))
