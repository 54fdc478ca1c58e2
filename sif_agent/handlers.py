"""Handlers registered by decorator into per-instance maps (no module-global registry).

    agent = Agent(settings)

    @agent.on_event("StudentPersonal", "Add")
    async def new_student(event: Event, ctx: Context) -> None: ...

    @agent.on_request("StudentLocator")
    async def locate(request: Request, ctx: Context) -> list[StudentLocator]: ...

    @agent.on_request("StudentLocator")    # answered later with agent.respond(ref, ...)
    async def accept(request: Request, ctx: Context):
        store(RequestRef.of(ctx.zone_id, request, ctx.version)); return DEFERRED

    @agent.on_response("StudentLocator")   # answers to send_request(), or nobody waits any more
    async def answered(reply: Reply, ctx: Context) -> None: ...   # every packet, in order

``on_response("*")`` catches answers for any object (e.g. a SIF_Error answer to a request
whose stored copy has been purged).

A handler's exception never stops the pull loop: :func:`as_sif_error` turns it into
the SIF_Error of the error ack (or of the SIF_Response, for a request).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from messages import SIFError
from messages.codes import ErrorCategory, GenericCode, SystemCode

log = logging.getLogger(__name__)

Handler = Callable[..., Awaitable[Any]]


class _Deferred:
    def __repr__(self) -> str:
        return "DEFERRED"


#: returned by a request handler that acknowledges the request now and answers it later
#: through ``Agent.respond`` (e.g. the Student Resolver, which waits for the SSID database)
DEFERRED = _Deferred()


def as_sif_error(exc: BaseException) -> SIFError:
    """A SIFError keeps its category and code; anything else is 11/1 (System, generic).

    Only the exception's type goes on the wire: its text may hold student data or internals
    (the agent's own log has the traceback).
    """
    if isinstance(exc, SIFError):
        return exc
    return SIFError(ErrorCategory.SYSTEM, SystemCode.GENERIC,
                    f"The agent could not process the message ({type(exc).__name__}); see the agent's log")


def not_supported(what: str) -> SIFError:
    return SIFError(ErrorCategory.GENERIC, GenericCode.MESSAGE_NOT_SUPPORTED,
                    f"This agent has no handler for {what}")


@dataclass(eq=False)
class Handlers:
    """The dispatch tables: (object, action) → event handler; object → request/response handler."""

    events: dict[tuple[str, str | None], Handler] = field(default_factory=dict)
    requests: dict[str, Handler] = field(default_factory=dict)
    responses: dict[str, Handler] = field(default_factory=dict)

    def on_event(self, object_name: str, action: str | None = None) -> Callable[[Handler], Handler]:
        """Register for SIF_Event of ``object_name``; ``action`` None means every action."""
        if action not in (None, "Add", "Change", "Delete"):
            raise ValueError(f"event action must be Add, Change or Delete, not {action!r}")

        def register(fn: Handler) -> Handler:
            self.events[(object_name, action)] = fn
            return fn

        return register

    def on_request(self, object_name: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.requests[object_name] = fn
            return fn

        return register

    def on_response(self, object_name: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.responses[object_name] = fn
            return fn

        return register

    def response_handler(self, object_name: str | None) -> Handler | None:
        return self.responses.get(object_name or "") or self.responses.get("*")

    def event_handler(self, object_name: str, action: str) -> Handler | None:
        return self.events.get((object_name, action)) or self.events.get((object_name, None))
