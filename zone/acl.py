"""Per-agent access lists: what an agent may provide, subscribe, publish, request, respond."""

from __future__ import annotations

from dataclasses import dataclass

from messages import AgentACL, ObjectRef

RIGHTS = ("provide", "subscribe", "publish_add", "publish_change", "publish_delete", "request", "respond")
ALL = "*"


@dataclass(frozen=True)
class Rights:
    """Object names per right; ``"*"`` grants the right for every object."""

    provide: frozenset[str] = frozenset()
    subscribe: frozenset[str] = frozenset()
    publish_add: frozenset[str] = frozenset()
    publish_change: frozenset[str] = frozenset()
    publish_delete: frozenset[str] = frozenset()
    request: frozenset[str] = frozenset()
    respond: frozenset[str] = frozenset()

    @classmethod
    def everything(cls) -> "Rights":
        return cls(**{r: frozenset({ALL}) for r in RIGHTS})

    @classmethod
    def from_mapping(cls, table: dict) -> "Rights":
        values = {}
        for right in RIGHTS:
            names = table.get(right, [])
            if isinstance(names, str):
                names = [names]
            if not all(isinstance(n, str) and n for n in names):
                raise ValueError(f"{right} must be a list of object names (or \"*\")")
            values[right] = frozenset(names)
        return cls(**values)

    def allows(self, right: str, object_name: str) -> bool:
        names = getattr(self, right)
        return ALL in names or object_name in names

    def to_agent_acl(self, known_objects: tuple[str, ...] = (), contexts: tuple[str, ...] = ("SIF_Default",)) -> AgentACL:
        """SIF_AgentACL for the agent; ``*`` is expanded to the objects the zone knows of."""

        def refs(right: str) -> tuple[ObjectRef, ...]:
            names = getattr(self, right)
            listed = sorted(known_objects if ALL in names else names)
            return tuple(ObjectRef(object_name=n, contexts=contexts) for n in listed if n != ALL)

        return AgentACL(**{r: refs(r) for r in RIGHTS})

    def to_json(self) -> dict[str, list[str]]:
        return {r: sorted(getattr(self, r)) for r in RIGHTS}

    @classmethod
    def from_json(cls, data: dict) -> "Rights":
        return cls(**{r: frozenset(data.get(r, ())) for r in RIGHTS})
