"""What every parindex aggregate and event shares: the actor who caused each event.

Event classes are a permanent public contract (their topics are stored with every event):
never rename or move one without `register_topic`, and never edit fields in place — add a
`class_version` and an `upcast_vN_vN+1` instead. `tests/contract` pins the catalogue.
"""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from domain.actors import Actor, Role


class ParAggregate(Aggregate):
    class Event(Aggregate.Event):
        actor_id: str
        actor_role: Role

    class Created(Event, Aggregate.Created):
        pass


def by(actor: Actor) -> dict[str, object]:
    """The actor fields every event carries, as keyword arguments for an `@event` method."""
    return {"actor_id": actor.id, "actor_role": actor.role}
