"""The Framework aggregate: a versioned framework for one year and unit group.

A framework is drafted (and may be revised while a draft), then published; a published framework
is immutable, and a change is a new version with its own id that names the version it supersedes.
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.actors import Actor, Role
from domain.base import ParAggregate, by
from domain.errors import FrameworkImmutable
from domain.framework.structure import FrameworkTree, framework_document, parse_framework


def framework_id(code: str, version: int) -> UUID:
    return uuid5(NAMESPACE_URL, f"/parindex/frameworks/{code}/v{version}")


class Framework(ParAggregate):
    class Drafted(ParAggregate.Created):
        code: str
        version: int
        supersedes: UUID | None
        document: dict[str, Any]

    class DraftRevised(ParAggregate.Event):
        document: dict[str, Any]
        reason: str

    class Published(ParAggregate.Event):
        pass

    @staticmethod
    def create_id(code: str, version: int, **_: Any) -> UUID:
        return framework_id(code, version)

    @classmethod
    def draft(cls, actor: Actor, document: dict[str, Any], *, version: int = 1,
              supersedes: UUID | None = None) -> Framework:
        actor.require(Role.SECRETARIAT, act="defining a framework")
        tree = parse_framework(document)
        return cls(code=tree.code, version=version, supersedes=supersedes,
                   document=framework_document(tree), **by(actor))

    @event(Drafted)
    def __init__(self, code: str, version: int, supersedes: UUID | None,
                 document: dict[str, Any], actor_id: str, actor_role: Role) -> None:
        self.code = code
        self.framework_version = version
        self.supersedes = supersedes
        self.document = document
        self.is_published = False

    def tree(self) -> FrameworkTree:
        """Parse the stored document (the application caches this for published versions)."""
        return parse_framework(self.document)

    def revise(self, actor: Actor, document: dict[str, Any], reason: str) -> None:
        actor.require(Role.SECRETARIAT, act="revising a framework")
        if self.is_published:
            raise FrameworkImmutable(f"framework {self.code} v{self.framework_version} is "
                                     "published; define a new version instead")
        tree = parse_framework(document)
        if tree.code != self.code:
            raise FrameworkImmutable(f"a revision keeps the code {self.code}", field="code")
        self._revised(document=framework_document(tree), reason=reason, **by(actor))

    @event(DraftRevised)
    def _revised(self, document: dict[str, Any], reason: str, actor_id: str,
                 actor_role: Role) -> None:
        self.document = document

    def publish(self, actor: Actor) -> None:
        actor.require(Role.SECRETARIAT, act="publishing a framework")
        if self.is_published:
            raise FrameworkImmutable(f"framework {self.code} v{self.framework_version} is "
                                     "already published")
        self._published(**by(actor))

    @event(Published)
    def _published(self, actor_id: str, actor_role: Role) -> None:
        self.is_published = True
