"""The SSID web UI: where the state's and districts' staff resolve potential matches and maintain IDs.

``make_web_app(store, settings, *, clock=time.time, poller=None, slf_db=None)`` returns an aiohttp
application to mount under ``/ui/`` (``slf ssid serve``). Server-rendered HTML (jinja2, no
script), argon2 passwords, server-side sessions, CSRF tokens, roles and districts from the
``[web]`` configuration. See docs/ssid-web.md.
"""

from .app import make_web_app

__all__ = ["make_web_app"]
