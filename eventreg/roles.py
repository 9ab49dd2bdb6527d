"""Roles, the acting user, and the one check every use case makes.

Roles rank student < staff < admin. The role of an `Actor` always comes from the
database (see `auth.service.authenticate`), never from the token alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from eventreg.errors import PermissionDenied

STUDENT = "student"
STAFF = "staff"
ADMIN = "admin"
ROLES = (STUDENT, STAFF, ADMIN)
RANK = {STUDENT: 1, STAFF: 2, ADMIN: 3}


@dataclass(frozen=True)
class Actor:
    id: int
    email: str
    name: str
    role: str
    session: str  # the session id (the token's jti)

    def at_least(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]


def require(actor: Actor, role: str) -> None:
    if not actor.at_least(role):
        raise PermissionDenied(f"this needs the {role} role; you are {actor.role}")


def is_staff(actor: Actor | None) -> bool:
    return actor is not None and actor.at_least(STAFF)
