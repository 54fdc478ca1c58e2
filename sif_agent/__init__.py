"""SIF agent runtime: registration, provisioning, pull loop, acknowledgement, handlers.

    from sif_agent import Agent, load_config

    agent = Agent(load_config("conf/agent.toml"))

    @agent.on_request("StudentLocator")
    async def locate(request, ctx): return [...]

    await agent.run()

Modules, one job each: ``config`` (TOML → frozen settings), ``transport`` (HTTPS POST,
retries with jitter), ``session`` (one zone's protocol), ``handlers`` (decorators and
error mapping), ``outbox`` (durable sends with stable SIF_MsgIds), ``requests``
(response correlation), ``runtime`` (the loops). Push mode is not implemented yet.
"""

from .config import AgentSettings, ConfigError, ZoneSettings
from .config import load as load_config
from .handlers import Handlers, as_sif_error
from .outbox import Outbox
from .requests import Reply, RequestTimeout
from .runtime import Agent, Context
from .session import ProtocolError, Pulled, ZoneSession
from .transport import (
    HttpsTransport, PermanentTransportError, RetryableTransportError, TransportError, ssl_context,
)

__all__ = [
    "Agent", "AgentSettings", "ConfigError", "Context", "Handlers", "HttpsTransport", "Outbox",
    "PermanentTransportError", "ProtocolError", "Pulled", "Reply", "RequestTimeout",
    "RetryableTransportError", "TransportError", "ZoneSession", "ZoneSettings", "as_sif_error",
    "load_config", "ssl_context",
]
