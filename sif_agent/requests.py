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

from messages import Response, SIFError, XmlObject

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


@dataclass
class Waiter:
    request_msg_id: str
    future: asyncio.Future
    packets: dict[int, Response] = field(default_factory=dict)
    last: int | None = None

    def add(self, packet: Response) -> None:
        if self.future.done():
            return
        if packet.error is not None:
            self.future.set_exception(packet.error.to_exception())
            return
        self.packets.setdefault(packet.packet_number, packet)
        if not packet.more_packets:
            self.last = packet.packet_number
        if self.last is not None and all(n in self.packets for n in range(1, self.last + 1)):
            self.future.set_result(Reply(self.request_msg_id,
                                         tuple(self.packets[n] for n in range(1, self.last + 1))))


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
