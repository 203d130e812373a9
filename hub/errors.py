"""The hub's domain errors: what went wrong, said in the words of the domain.

Services raise these and nothing else for a caller's mistake; they know nothing of
HTTP. Each edge translates them in one place:

- the API: `hub/problems.py` `problem_for` (problem+json, its status and members);
- the console: `hub/console/blueprint.py` `_hub_error` (an error page) and the forms that
  show an `Invalid` beside the text;
- the CLI: `hub/cli/errors.py` `report` (an exit code and text).

The tree::

    HubError                    slug, title, detail, details
    ├── Invalid                 the input is wrong: a value, a shape, a combination
    │   ├── InvalidContent      well-formed, but its content cannot be accepted
    │   │   └── ConsentInputError   (hub/policy/consent.py) every mistake, by field
    │   └── OrgError            (hub/orgs/service.py) an org, key or role the operator named
    ├── Unauthenticated         the credential or token is not one the hub knows
    ├── Forbidden               the caller is known but may not do this
    ├── NotFound                it does not exist, or is not visible to the caller
    ├── Conflict                the state does not allow it (already done, wrong kind)
    ├── TooLarge                over one of the hub's limits: split it
    ├── Unavailable             something the hub depends on cannot be reached
    └── TooManyRequests         too many of these from one address or client: wait

`slug` names the kind of problem when callers may want to tell it apart from others of
its class (`batch-reused`, `manifest-stale`); None when the class says all. `details` are
structured facts a caller can act on without parsing the text: `errors` (field mistakes),
`problems` (an agreement's, with line and column), `log_end`, `cursor`, `limit_bytes`,
`waiting_for_orgs`. Each edge shows the ones it has a place for.
"""
from __future__ import annotations


class HubError(Exception):
    """A mistake or refusal a caller can understand and act on."""

    title = "The hub could not do this"
    slug: str | None = None

    def __init__(self, detail: str, *, slug: str | None = None, title: str | None = None, **details):
        super().__init__(detail)
        self.detail = detail
        if slug is not None:
            self.slug = slug
        if title is not None:
            self.title = title
        self.details = details


class Invalid(HubError):
    title = "Invalid input"


class InvalidContent(Invalid):
    title = "Content not accepted"


class Unauthenticated(HubError):
    title = "Unknown credential"


class Forbidden(HubError):
    title = "Not allowed"


class NotFound(HubError):
    title = "Not found"


class Conflict(HubError):
    title = "Not possible in this state"


class TooLarge(HubError):
    title = "Too large"


class Unavailable(HubError):
    title = "Unavailable"


class TooManyRequests(HubError):
    title = "Too many requests"


def not_found(what: str) -> NotFound:
    """The same answer for what does not exist and what the caller may not see."""
    return NotFound(f"{what} does not exist or is not visible to your organisation")
