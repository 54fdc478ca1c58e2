"""Request/response correlation: collect SIF_Response packets by SIF_RequestMsgId.

A waiter completes when packets 1..n are all in and packet n said SIF_MorePackets=No
(packets may arrive in any order; duplicates are ignored). A SIF_Error in any packet
fails the waiter with that SIFError (e.g. 8/4 no provider, 8/16 timed out in the zone);
no complete answer within the timeout raises :class:`RequestTimeout`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Mapping

from messages import Error, Request, Response, SIFError, XmlObject

log = logging.getLogger(__name__)


class RequestTimeout(TimeoutError):
    """No complete SIF_Response arrived in time."""

    def __init__(self, request_msg_id: str, timeout: float, packets: int) -> None:
        self.request_msg_id = request_msg_id
        super().__init__(f"no complete SIF_Response to {request_msg_id} within {timeout:g} s "
                         f"({packets} packet(s) received)")


@dataclass(frozen=True)
class Reply:
    """A complete answer: its packets in order."""

    request_msg_id: str
    packets: tuple[Response, ...]

    @property
    def objects(self) -> tuple[XmlObject, ...]:
        return tuple(o for p in self.packets for o in (p.objects or ()))

    @property
    def error(self) -> Error | None:
        """The SIF_Error of the answer, if any packet carries one."""
        return next((p.error for p in self.packets if p.error is not None), None)


def complete(packets: Mapping[int, Response]) -> tuple[Response, ...] | None:
    """Packets 1..n in order when all are in and packet n said SIF_MorePackets=No; else None."""
    last = next((n for n, p in packets.items() if not p.more_packets), None)
    if last is None or any(n not in packets for n in range(1, last + 1)):
        return None
    return tuple(packets[n] for n in range(1, last + 1))


@dataclass(frozen=True)
class RequestRef:
    """What answering a request later needs (a deferred SIF_Response): kept by the handler, e.g.
    in its own database next to the work the request started, and given to ``Agent.respond``."""

    zone_id: str
    source_id: str
    msg_id: str
    version: str
    max_buffer_size: int

    @classmethod
    def of(cls, zone_id: str, request: Request, version: str) -> "RequestRef":
        return cls(zone_id, request.source_id, request.msg_id, version, request.max_buffer_size)

    def to_json(self) -> dict[str, Any]:
        return {"zone_id": self.zone_id, "source_id": self.source_id, "msg_id": self.msg_id,
                "version": self.version, "max_buffer_size": self.max_buffer_size}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "RequestRef":
        return cls(str(data["zone_id"]), str(data["source_id"]), str(data["msg_id"]), str(data["version"]),
                   int(data["max_buffer_size"]))


@dataclass
class Waiter:
    request_msg_id: str
    future: asyncio.Future
    packets: dict[int, Response] = field(default_factory=dict)

    def add(self, packet: Response) -> None:
        if self.future.done():
            return
        if packet.error is not None:
            self.future.set_exception(packet.error.to_exception())
            return
        self.packets.setdefault(packet.packet_number, packet)
        done = complete(self.packets)
        if done is not None:
            self.future.set_result(Reply(self.request_msg_id, done))


class Correlator:
    def __init__(self) -> None:
        self._waiters: dict[str, Waiter] = {}

    def expect(self, request_msg_id: str) -> Waiter:
        waiter = Waiter(request_msg_id, asyncio.get_running_loop().create_future())
        self._waiters[request_msg_id] = waiter
        return waiter

    def offer(self, packet: Response) -> bool:
        """Give a pulled packet to its waiter; False when nobody waits for it."""
        waiter = self._waiters.get(packet.request_msg_id)
        if waiter is None:
            return False
        waiter.add(packet)
        return True

    def fail(self, request_msg_id: str, error: SIFError) -> None:
        waiter = self._waiters.get(request_msg_id)
        if waiter is not None and not waiter.future.done():
            waiter.future.set_exception(error)

    def forget(self, request_msg_id: str) -> None:
        self._waiters.pop(request_msg_id, None)

    async def wait(self, waiter: Waiter, timeout: float) -> Reply:
        try:
            return await asyncio.wait_for(asyncio.shield(waiter.future), timeout)
        except asyncio.TimeoutError:
            raise RequestTimeout(waiter.request_msg_id, timeout, len(waiter.packets)) from None
        finally:
            self.forget(waiter.request_msg_id)

    def __len__(self) -> int:
        return len(self._waiters)
