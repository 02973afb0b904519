"""Run the playground on uvicorn: bound to loopback unless told otherwise."""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
import webbrowser
from collections.abc import Sequence

from toklm.playground import DEFAULT_HOST, DEFAULT_MAX_CHARS, DEFAULT_PORT

__all__ = ["bind", "is_loopback", "serve"]


def is_loopback(host: str) -> bool:
    """Whether every address `host` names is a loopback address.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one); ValueError saying what failed."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except OSError as e:
        raise ValueError(f"--host {host}: cannot resolve it ({e.strerror or e})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as e:
        sock.close()
        hint = " (choose another with --port)" if e.errno == 98 else ""
        raise ValueError(f"cannot listen on {host}:{port}: {e.strerror or e}{hint}") from None
    return sock


def url_of(sock: socket.socket) -> str:
    """The address to open in a browser for a socket bound by `bind`."""
    host, port = sock.getsockname()[:2]
    if ipaddress.ip_address(host).is_unspecified:
        host = "127.0.0.1" if sock.family == socket.AF_INET else "::1"
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    tokenizers: Sequence[str] = (),
    max_chars: int = DEFAULT_MAX_CHARS,
    open_browser: bool = False,
) -> None:
    """Serve the playground until interrupted. `tokenizers`: paths the page may also choose."""
    import uvicorn

    from toklm.playground.app import LOOPBACK_HOSTS, create_app
    from toklm.playground.catalog import Catalog

    catalog = Catalog(tokenizers)
    catalog.load_paths()
    loopback = is_loopback(host)
    allowed = [*LOOPBACK_HOSTS, host] if loopback else None
    app = create_app(catalog, max_chars=max_chars, allowed_hosts=allowed)
    sock = bind(host, port)
    url = url_of(sock)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    print(f"toklm playground: {url}  (Ctrl-C to stop)", flush=True)
    if not loopback:
        print(
            f"toklm: note: listening on {host}: the playground is reachable from other hosts",
            file=sys.stderr,
        )
    if open_browser:
        threading.Thread(target=_open_when_started, args=(server, url), daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def _open_when_started(server: object, url: str) -> None:
    import time

    for _ in range(200):
        if getattr(server, "started", False):
            break
        time.sleep(0.05)
    webbrowser.open(url)
