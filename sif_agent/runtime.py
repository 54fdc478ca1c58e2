"""The agent runtime: register and provision, pull, dispatch, acknowledge, stop gracefully.

    agent = Agent(settings)

    @agent.on_event("StudentPersonal", "Add")
    async def new_student(event, ctx): ...

    await agent.run()            # until agent.stop() (or SIGTERM, wired by the caller)

Per zone one pull loop: flush the outbox, SIF_GetMessage until 9 (then wait
``pull_interval``), hand each message to its handler and acknowledge it only when
the handler has returned (its work committed). A handler's exception becomes an
error ack (events) or a SIF_Response with SIF_Error (requests); the loop goes on.
Stopping lets the message in hand finish; a message whose handler did not finish
is not acknowledged, so the zone delivers it again.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable

from messages import (
    Ack, Event, Message, Query, Request, Response, SIFError, XmlObject, build, new_guid, now_timestamp,
    versions as sif_versions,
)
from messages.codes import ErrorCategory, RequestResponseCode

from .config import AgentSettings, PushSettings, ZoneSettings
from .handlers import DEFERRED, Handlers, as_sif_error, not_supported
from .listener import PushListener
from .outbox import REFUSED, Outbox, is_not_registered
from .requests import Correlator, Reply, RequestRef
from .session import ProtocolError, ZoneSession
from .transport import HttpsTransport, Transport, TransportError

log = logging.getLogger(__name__)

#: bytes kept free below the requester's SIF_MaxBufferSize (timestamps may differ in length)
PACKET_SLACK = 64


@dataclass(frozen=True)
class Context:
    """What a handler gets besides the message: the agent and the zone it came from."""

    agent: "Agent"
    zone_id: str
    #: for a request: the SIF version its answer is written in (negotiated with the requester)
    version: str = ""

    @property
    def session(self) -> ZoneSession:
        return self.agent.sessions[self.zone_id]


def _response_key(zone_id: str, source_id: str, msg_id: str) -> str:
    return f"response:{zone_id}:{source_id}:{msg_id}"


def split_packets(objects: tuple[XmlObject, ...], make: Callable[..., Response], limit: int) -> list[Response]:
    """SIF_Response packets, each no larger than ``limit`` bytes, objects kept in order.

    An object too big for a packet on its own makes the answer a single 8/8 error.
    """
    groups: list[list[XmlObject]] = []
    current: list[XmlObject] = []
    for obj in objects:
        trial = current + [obj]
        if current and len(build(make(objects=tuple(trial), packet=1, more=True))) > limit:
            groups.append(current)
            current = [obj]
        else:
            current = trial
    groups.append(current)
    packets = [make(objects=tuple(g), packet=i, more=i < len(groups)) for i, g in enumerate(groups, 1)]
    if any(len(build(p)) > limit for p in packets):
        return [make(error=SIFError(ErrorCategory.REQUEST_RESPONSE, RequestResponseCode.BUFFER_NOT_SUPPORTED,
                                    f"An object does not fit in a SIF_Response of {limit + PACKET_SLACK} bytes "
                                    "(the requester's SIF_MaxBufferSize)"
                                    ).to_error(), packet=1, more=False)]
    return packets


class Agent(Handlers):
    def __init__(self, settings: AgentSettings, *,
                 transports: dict[str, Transport] | None = None,
                 outbox: Outbox | None = None,
                 ids: Callable[[], str] = new_guid,
                 clock: Callable[[], str] = now_timestamp,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        super().__init__()
        self.settings = settings
        self.outbox = outbox or Outbox.from_url(settings.outbox)
        transports = transports or {}
        self.sessions: dict[str, ZoneSession] = {
            z.id: ZoneSession(z, transports.get(z.id) or HttpsTransport.for_zone(z, sleep=sleep),
                              name=settings.name, ids=ids, clock=clock)
            for z in settings.zones
        }
        self.correlator = Correlator()
        self.ready: dict[str, asyncio.Event] = {z.id: asyncio.Event() for z in settings.zones}
        self.listeners: dict[str, PushListener] = {}  # push-mode zones, while running
        self._stop = asyncio.Event()
        self._outbox_ready = False

    def __repr__(self) -> str:
        return f"Agent({self.settings.source_id!r}, zones={list(self.sessions)})"

    # ================================================================ lifecycle
    def zone(self, zone_id: str) -> ZoneSettings:
        return self.sessions[zone_id].zone

    async def open(self) -> None:
        if not self._outbox_ready:
            await self.outbox.create()
            self._outbox_ready = True

    async def connect(self, zone_id: str) -> None:
        """Register and provision (both idempotent), then send what the outbox still holds."""
        await self.open()
        session = self.sessions[zone_id]
        await session.register()
        await session.provision()
        log.info("zone %s: registered as %s (SIF %s) and provisioned", zone_id, session.source_id,
                 session.version)
        self.ready[zone_id].set()
        await self._flush(session)

    def stop(self) -> None:
        """Ask every loop to stop after the message in hand."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def wait_or_stop(self, seconds: float) -> None:
        """Wait, but wake at once when asked to stop."""
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def run(self, *, handle_signals: bool = False) -> None:
        """Run every zone until :meth:`stop`; then close the transports and the outbox.

        With ``handle_signals``, SIGTERM and SIGINT ask for a graceful stop.
        """
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
        for sig in signals:
            loop.add_signal_handler(sig, self.stop)
        tasks: list[asyncio.Task] = []
        try:
            await self.open()
            tasks = [asyncio.create_task(self._zone_main(zone_id), name=f"sif-agent-{zone_id}")
                     for zone_id in self.sessions]
            await asyncio.gather(*tasks)
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.close()

    async def close(self) -> None:
        for s in self.sessions.values():
            await s.transport.aclose()
        await self.outbox.close()

    @asynccontextmanager
    async def running(self, timeout: float = 30.0) -> AsyncIterator["Agent"]:
        """Run in the background until the block ends (tests, embedding); ready when entered."""
        task = asyncio.create_task(self.run())
        ready = asyncio.gather(*(e.wait() for e in self.ready.values()))
        done, _ = await asyncio.wait({task, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            ready.cancel()
            task.result()  # raises what stopped it
            raise RuntimeError("the agent stopped before it was ready")
        if ready not in done:
            ready.cancel()
            self.stop()
            await task
            raise TimeoutError("the agent did not connect to its zones in time")
        try:
            yield self
        finally:
            self.stop()
            await task

    async def _zone_main(self, zone_id: str) -> None:
        session = self.sessions[zone_id]
        listener = None
        if session.zone.mode == "Push":
            listener = PushListener(zone_id, session.zone.push or PushSettings(),
                                    lambda m: self._pushed(zone_id, m), max_bytes=session.zone.max_buffer_size)
            session.push_url = await listener.start()
            self.listeners[zone_id] = listener
        try:
            while not self.stopping:
                try:
                    await self.connect(zone_id)
                    break
                except (TransportError, ProtocolError) as exc:
                    log.warning("zone %s: cannot connect: %s", zone_id, exc)
                    await self.wait_or_stop(session.zone.pull_interval)
            while not self.stopping:
                if listener is not None:  # the zone pushes; we only send what the outbox holds
                    await self._flush_quietly(session)
                    await self.wait_or_stop(session.zone.pull_interval)
                elif not await self.step(zone_id):
                    await self.wait_or_stop(session.zone.pull_interval)
        finally:
            if listener is not None:
                await listener.close()

    async def _flush_quietly(self, session: ZoneSession) -> None:
        try:
            await self._flush(session)
        except SIFError as exc:
            if is_not_registered(exc):
                await self._reconnect(session.zone.id)
            else:
                log.warning("zone %s: sending failed: %s", session.zone.id, exc)
        except (TransportError, ProtocolError) as exc:
            log.warning("zone %s: sending failed: %s", session.zone.id, exc)

    # ================================================================ the pull loop
    async def step(self, zone_id: str) -> bool:
        """Flush the outbox, pull one message and handle it. False when there was nothing to do
        (queue empty, asleep, or the zone unreachable): the caller waits before the next step."""
        session = self.sessions[zone_id]
        try:
            await self._flush(session)
            pulled = await session.pull()
        except SIFError as exc:
            log.warning("zone %s: pull failed: %s", zone_id, exc)
            if is_not_registered(exc):
                await self._reconnect(zone_id)
            return False
        except (TransportError, ProtocolError) as exc:
            log.warning("zone %s: pull failed: %s", zone_id, exc)
            return False
        if pulled.message is None:
            if pulled.sleeping:
                log.debug("zone %s: sleeping (8)", zone_id)
            return False
        await self.dispatch(zone_id, pulled.message)
        return True

    async def _reconnect(self, zone_id: str) -> None:
        """The zone no longer knows us (4/9, e.g. its administrator removed us): register again."""
        self.ready[zone_id].clear()
        try:
            await self.connect(zone_id)
        except (TransportError, ProtocolError, SIFError) as exc:
            log.warning("zone %s: cannot register again: %s", zone_id, exc)

    async def dispatch(self, zone_id: str, message: Message) -> None:
        """Handle one pulled message, then acknowledge it (status 1 or an error)."""
        done, error = await self.handle(zone_id, message)
        if not done:
            return
        try:
            await self.sessions[zone_id].ack(message, error=error)
        except (TransportError, ProtocolError, SIFError) as exc:
            # not acknowledged: the zone delivers it again; handlers must be idempotent per SIF_MsgId
            log.warning("zone %s: could not acknowledge %s: %s", zone_id, message.msg_id, exc)

    async def _pushed(self, zone_id: str, message: Message) -> Ack | None:
        """A message the zone pushed: handled, and its SIF_Ack is the HTTP answer (None: 503)."""
        if self.stopping:
            return None
        done, error = await self.handle(zone_id, message)
        return self.sessions[zone_id].ack_message(message, error=error) if done else None

    async def handle(self, zone_id: str, message: Message) -> tuple[bool, SIFError | None]:
        """Run the message's handler. Returns (acknowledge?, the error to acknowledge with):
        False when it must not be acknowledged (the zone delivers it again)."""
        session = self.sessions[zone_id]
        ctx = Context(self, zone_id)
        try:
            if isinstance(message, Event):
                handler = self.event_handler(message.object_name, message.action)
                if handler is None:
                    raise not_supported(f"{message.object_name} {message.action} events")
                await handler(message, ctx)
            elif isinstance(message, Request):
                await self._answer(session, message, ctx)
            elif isinstance(message, Response):
                if not self.correlator.offer(message):
                    await self._answered(zone_id, message, ctx)
            else:
                raise not_supported(message.kind)
        except asyncio.CancelledError:
            log.warning("zone %s: cancelled while handling %s; not acknowledged", zone_id, message.msg_id)
            raise
        except (TransportError, ProtocolError) as exc:
            # not the message's fault (e.g. its response packets could not be sent yet): leave it
            # unacknowledged; the zone delivers it again and the outbox re-sends the same packets
            log.warning("zone %s: %s %s not acknowledged: %s", zone_id, message.kind, message.msg_id, exc)
            return False, None
        except Exception as exc:  # noqa: BLE001 - every handler failure becomes an error ack
            if isinstance(exc, SIFError) and is_not_registered(exc):
                # the zone forgot us while we worked (an ack would be refused the same way)
                log.warning("zone %s: %s %s not acknowledged: %s", zone_id, message.kind, message.msg_id, exc)
                return False, None
            error = as_sif_error(exc)
            log.warning("zone %s: %s %s failed: %s", zone_id, message.kind, message.msg_id, error,
                        exc_info=not isinstance(exc, SIFError))
            return True, error
        return True, None

    async def _answered(self, zone_id: str, packet: Response, ctx: Context) -> None:
        """A packet nobody in this process waits for: to the ``on_response`` handler once the
        whole answer is in (packets held durably until then), acknowledged after the handler."""
        name = packet.object_name or await self.outbox.request_object(packet.request_msg_id)
        handler = self.response_handler(name)
        if handler is None:
            log.warning("zone %s: dropping SIF_Response %s to %s: nobody is waiting for it",
                        zone_id, packet.msg_id, packet.request_msg_id)
            return
        if packet.packet_number == 1 and not packet.more_packets:
            await handler(Reply(packet.request_msg_id, (packet,)), ctx)
            return
        held = await self.outbox.hold_packet(zone_id, packet)
        if held is not None:
            await handler(Reply(packet.request_msg_id, held), ctx)
            await self.outbox.release_packets(packet.request_msg_id)

    async def _answer(self, session: ZoneSession, request: Request, ctx: Context) -> None:
        """Run the request handler once per request and send its packets through the outbox
        (or, when it returns ``DEFERRED``, leave the answer to a later :meth:`respond`)."""
        if not await self.outbox.has_key(_response_key(session.zone.id, request.source_id, request.msg_id)):
            # (redelivered after a crash: the packets are already stored)
            version = (sif_versions.negotiate(request.versions, session.zone.versions)
                       or (session.version if sif_versions.admitted(request.versions, session.version)
                           else request.version))
            ref = RequestRef.of(session.zone.id, request, version)
            handler = self.requests.get(request.object_name)
            try:
                if handler is None:
                    raise SIFError(ErrorCategory.REQUEST_RESPONSE, RequestResponseCode.INVALID_OBJECT,
                                   f"This agent does not answer requests for {request.object_name}")
                result = await handler(request, Context(self, session.zone.id, version))
                if result is DEFERRED:
                    return
                await self._store_answer(ref, objects=result)
            except SIFError as exc:
                await self._store_answer(ref, error=exc)
            except Exception as exc:  # noqa: BLE001 - the requester hears about it as a SIF_Error
                log.warning("request handler for %s failed", request.object_name, exc_info=True)
                await self._store_answer(ref, error=as_sif_error(exc))
        # a TransportError here leaves the packets pending and the request unacknowledged
        await self.outbox.deliver(session)

    async def _store_answer(self, ref: RequestRef, objects: Iterable[Any] | None = None,
                            error: SIFError | None = None) -> None:
        """The SIF_Response packets for ``ref`` into the outbox, once per request (keyed)."""
        session = self.sessions[ref.zone_id]

        def make(**kw) -> Response:
            return Response(header=session.header(ref.source_id), version=ref.version,
                            request_msg_id=ref.msg_id, packet_number=kw.pop("packet"),
                            more_packets=kw.pop("more"), **kw)

        if error is not None:
            packets = [make(error=error.to_error(), packet=1, more=False)]
        else:
            items = tuple(XmlObject.of(o) for o in (objects or ()))
            packets = split_packets(items, make, ref.max_buffer_size - PACKET_SLACK)
        await self.outbox.put(ref.zone_id, packets, key=_response_key(ref.zone_id, ref.source_id, ref.msg_id))

    async def respond(self, ref: RequestRef, objects: Iterable[Any] | None = None,
                      error: SIFError | None = None, *, deliver: bool = True) -> None:
        """Answer a request whose handler returned ``DEFERRED``: objects, or a SIF_Error.

        Idempotent per request: a second call stores nothing new. The packets are stored
        before delivery is tried; if the zone cannot be reached they go with the next flush.
        With ``deliver=False`` they are only stored (the caller commits its own bookkeeping
        first; the zone's loop sends them).
        """
        await self.open()
        await self._store_answer(ref, objects, error)
        if not deliver:
            return
        try:
            await self.outbox.deliver(self.sessions[ref.zone_id])
        except (TransportError, ProtocolError, SIFError) as exc:
            log.warning("zone %s: answer to %s kept in the outbox: %s", ref.zone_id, ref.msg_id, exc)

    async def _flush(self, session: ZoneSession) -> None:
        await self.outbox.deliver(session)

    # ================================================================ sending
    async def send(self, zone_id: str, message: Message) -> str:
        """Store, then try to deliver; returns its SIF_MsgId. SIFError if the zone refused it.
        After a transport failure the message stays in the outbox and the pull loop delivers it
        later."""
        session = self.sessions[zone_id]
        await self.open()
        await self.outbox.put(zone_id, [message])
        try:
            await self.outbox.deliver(session)
        except (TransportError, SIFError) as exc:
            if isinstance(exc, SIFError) and not is_not_registered(exc):
                raise
            log.warning("zone %s: %s %s kept in the outbox: %s", zone_id, message.kind, message.msg_id, exc)
            return message.msg_id
        entry = await self.outbox.get(message.msg_id)
        if entry is not None and entry.state == REFUSED:
            raise self.outbox.refusals.get(message.msg_id) or SIFError(0, 1, entry.error or "refused")
        return message.msg_id

    async def publish(self, zone_id: str, object_name: str, action: str, objects: Iterable[Any],
                      contexts: tuple[str, ...] = ()) -> str:
        """Publish a SIF_Event (Add, Change or Delete); returns its SIF_MsgId."""
        session = self.sessions[zone_id]
        event = Event(header=session.header(contexts=contexts), version=session.version,
                      object_name=object_name, action=action, objects=tuple(objects))
        return await self.send(zone_id, event)

    def _request(self, zone_id: str, query: Query, destination: str | None, max_buffer_size: int | None,
                 versions: tuple[str, ...] | None, contexts: tuple[str, ...]) -> Request:
        session = self.sessions[zone_id]
        return Request(header=session.header(destination, contexts), version=session.version,
                       versions=versions or (session.version,), query=query,
                       max_buffer_size=max_buffer_size or session.zone.max_buffer_size)

    async def send_request(self, zone_id: str, query: Query, *, destination: str | None = None,
                           max_buffer_size: int | None = None, versions: tuple[str, ...] | None = None,
                           contexts: tuple[str, ...] = ()) -> str:
        """Send a SIF_Request without waiting; returns its SIF_MsgId. The answer goes to the
        ``on_response`` handler for the object, whenever it comes (after a restart too)."""
        return await self.send(zone_id, self._request(zone_id, query, destination, max_buffer_size, versions,
                                                      contexts))

    async def request(self, zone_id: str, query: Query, *, destination: str | None = None,
                      timeout: float | None = None, max_buffer_size: int | None = None,
                      versions: tuple[str, ...] | None = None, contexts: tuple[str, ...] = ()) -> Reply:
        """Send a SIF_Request and wait for every packet of its SIF_Response.

        SIFError when the zone refuses the request (e.g. 8/4 no provider) or the answer is a
        SIF_Error; RequestTimeout when no complete answer arrives in time.
        """
        req = self._request(zone_id, query, destination, max_buffer_size, versions, contexts)
        waiter = self.correlator.expect(req.msg_id)
        try:
            await self.send(zone_id, req)
        except BaseException:
            self.correlator.forget(req.msg_id)
            raise
        timeout = timeout if timeout is not None else self.sessions[zone_id].zone.request_timeout
        return await self.correlator.wait(waiter, timeout)

    # ================================================================ sleep / wakeup
    async def sleep(self, zone_id: str) -> None:
        """SIF_Sleep: the zone holds our messages (GetMessage answers 8) until :meth:`wakeup`."""
        await self.sessions[zone_id].sleep()

    async def wakeup(self, zone_id: str) -> None:
        await self.sessions[zone_id].wakeup()
