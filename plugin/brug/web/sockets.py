"""Listening sockets that several brug processes on one host can share.

Each `brug run` (and the Talk bot webhook of the elected one) binds its port with SO_REUSEPORT on
Linux: a provider runs N instances behind one port, and the kernel spreads new connections over the
processes still listening. When one stops, its socket closes and the others take every new connection.
Linux lets only processes of the same user share a port this way, so another user's program cannot
take brug's connections. Where the system has no SO_REUSEPORT, a second process on the port is
refused as before (address already in use).
"""

from __future__ import annotations

import socket

BACKLOG = 2048  # uvicorn's default


def shared_sockets(host: str, port: int) -> list[socket.socket]:
    """Bound, listening, non-blocking sockets for every address `host` names (as uvicorn would bind),
    each with SO_REUSEADDR and, where the system has it, SO_REUSEPORT. Raises OSError (closing what it
    opened) when the port cannot be had."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    opened: list[socket.socket] = []
    seen: set[tuple[int, tuple[object, ...]]] = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, tuple(address)) in seen:
                continue
            seen.add((family, tuple(address)))
            sock = socket.socket(family, kind, proto)
            opened.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if hasattr(socket, "SO_REUSEPORT"):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:  # "::" and "0.0.0.0" are two sockets, as asyncio makes them
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
            sock.setblocking(False)
    except OSError:
        for sock in opened:
            sock.close()
        raise
    return opened

