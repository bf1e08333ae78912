"""Refusing requests for a host name the dashboard does not serve: the defence against DNS rebinding.

A web page on another site can point its own name at 127.0.0.1 (DNS rebinding) and then talk to the dashboard
as if it were that site: the browser sends the attacker's name as Host and as Origin, so Streamlit's same-origin
check passes and the XSRF cookie is the page's own. What such a request cannot fake is a Host the dashboard
serves, so every request, HTTP and WebSocket alike, must name one: localhost, 127.0.0.1, [::1], or a name in
Streamlit's `server.allowedHosts` (.streamlit/config.toml, or `adaptlab dashboard --allow-host NAME`).

dashboard/web.py puts HostCheck in front of Streamlit's server. Streamlit checks the same option on its WebSocket
too, a second lock on that door (without this machine's names if a deployment leaves them out of the list).
"""

from __future__ import annotations

from urllib.parse import urlsplit

LOOPBACK = ("localhost", "127.0.0.1", "::1")  # this machine's own names: always served
REFUSED = (b"This dashboard does not serve this host name. Whoever runs it can add the name: adaptlab dashboard "
           b"--allow-host NAME (docs/SECURITY.md).")


def allowed_hosts() -> list[str]:
    """The host names served: this machine's own and Streamlit's server.allowedHosts. Read per request, from the
    option Streamlit's WebSocket check reads too; where that option is empty Streamlit accepts any Host, and this
    check still serves loopback alone (fails closed)."""
    from streamlit import config

    return [*LOOPBACK, *config.get_option("server.allowedHosts")]


def host_allowed(host: str | None, patterns) -> bool:
    """Whether a Host header names one of the patterns: a name, "*.example.com" for its subdomains, or "*" for any.
    The port does not matter; anything beyond host[:port] (a user, a path) is refused."""
    if not host:
        return False
    try:
        parts = urlsplit(f"//{host}")
        parts.port  # noqa: B018  (raises on a port that is not a number in range)
    except ValueError:
        return False
    if parts.hostname is None or parts.username is not None or parts.path or parts.query or parts.fragment:
        return False
    name = parts.hostname.lower().rstrip(".")
    for pattern in (p.strip().lower().rstrip(".") for p in patterns):
        if pattern == "*" or name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:])):
            return True
    return False


class HostCheck:
    """ASGI middleware: a request whose Host is not served gets 403 (HTTP) or is closed before the WebSocket
    opens (the client sees 403 too), and reaches nothing behind it."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = next((value.decode("latin-1") for key, value in scope["headers"] if key == b"host"), None)
            if not host_allowed(host, allowed_hosts()):
                await _refuse(scope, send)
                return
        await self.app(scope, receive, send)


async def _refuse(scope, send) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})  # before accept: the server answers 403
        return
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(REFUSED)).encode())]})
    await send({"type": "http.response.body", "body": REFUSED})
