"""The authenticated caller of a request: a person's membership or an API key, bound to one tenant."""

from dataclasses import dataclass, field

from .models import ROLE_RANK, ApiKey, Tenant, User


@dataclass(frozen=True)
class Principal:
    kind: str  # "user" or "key"
    tenant: Tenant | None
    user: User | None = None
    role: str | None = None
    api_key: ApiKey | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_staff(self) -> bool:
        return bool(self.user and self.user.is_staff)

    def has_role(self, minimum: str) -> bool:
        return self.role is not None and ROLE_RANK[self.role] >= ROLE_RANK[minimum]

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def actor(self) -> dict:
        """How this caller appears as an actor in the audit log."""
        if self.api_key is not None:
            return {"id": f"apikey:{self.api_key.prefix}", "type": "service", "name": self.api_key.name}
        return {"id": f"user:{self.user.pk}", "type": "user", "name": self.user.username, "email": self.user.email}
