"""Who is calling: the principal a bearer key resolves to, and role checks."""
from __future__ import annotations

from dataclasses import dataclass

from hub.errors import Forbidden


@dataclass(frozen=True)
class Principal:
    org: str
    role: str
    credential_id: str
    agent_id: str | None = None

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        who = f"agent:{self.agent_id}" if self.agent_id else f"key:{self.credential_id}"
        return f"{self.org}/{self.role}/{who}"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def require(self, *roles: str) -> None:
        """Admin may do anything; otherwise the role must be one of `roles`."""
        if self.role != "admin" and self.role not in roles:
            raise Forbidden(f"this needs a {' or '.join(roles)} credential; yours is {self.role}")

    def require_org(self, org: str) -> None:
        """A credential acts only for its own org (admin for all)."""
        if not self.is_admin and org != self.org:
            raise Forbidden(f"your credential belongs to {self.org} and cannot act for {org}")

    def as_token_info(self) -> dict:
        return {"sub": self.actor, "org": self.org, "role": self.role,
                "credential_id": self.credential_id, "agent_id": self.agent_id}

    @classmethod
    def from_token_info(cls, info: dict) -> "Principal":
        return cls(org=info["org"], role=info["role"], credential_id=info["credential_id"], agent_id=info.get("agent_id"))


def has_operator_view(principal: Principal, hub_operator: str | None) -> bool:
    """The hub operator's ops credentials read health metadata of every org (never payloads,
    subjects, URL paths or secrets); acting on another org's things still needs admin."""
    return bool(hub_operator) and principal.org == hub_operator and principal.role == "ops"
