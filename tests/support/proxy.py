"""A TCP proxy on 127.0.0.1 that can go silent, pause, refuse new clients or cut every link."""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading


class Proxy:
    """Forwards 127.0.0.1:<port> to an upstream address, one pair of sockets per client.

    ``silence()`` models a dropped NAT mapping or a partitioned network: bytes already in flight and
    every byte after are swallowed, no FIN or RST is sent, connections made meanwhile are accepted
    and never answered, and links that went silent stay dead (like a lost NAT entry) after
    ``restore()``. ``cut()`` resets every open link at once (a crashed peer or middlebox).
    ``pause()`` stops forwarding without losing anything: bytes wait in the kernel's buffers, new
    clients wait unanswered, and ``resume()`` carries on where it stopped (a stalled database host or
    path). ``refuse()`` resets every new client until ``restore()`` (the path is down, no listener).
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._silent = False
        self._refusing = False
        self._paused = threading.Event()
        self._paused.set()  # set = forwarding
        self._closed = False
        self._links: list[_Link] = []
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept_loop, name="proxy-accept", daemon=True)
        self._thread.start()

    def silence(self) -> None:
        with self._lock:
            self._silent = True
            for link in self._links:
                link.silent = True

    def restore(self) -> None:
        with self._lock:
            self._silent = False
            self._refusing = False

    def refuse(self) -> None:
        with self._lock:
            self._refusing = True

    def pause(self) -> None:
        self._paused.clear()

    def resume(self) -> None:
        self._paused.set()

    def cut(self) -> None:
        with self._lock:
            links, self._links = self._links, []
        for link in links:
            link.reset()

    @property
    def open_links(self) -> int:
        with self._lock:
            return sum(1 for link in self._links if not link.done)

    def close(self) -> None:
        self._closed = True
        self._paused.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self.cut()
        with self._lock:
            held, self._held = self._held, []
        for sock in held:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._silent:
                    self._held.append(client)  # accepted, never answered
                    continue
                refusing = self._refusing
            if refusing:
                _reset(client)
                continue
            self._paused.wait()  # a paused path answers a new client when it resumes
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            link = _Link(client, upstream, self._paused)
            with self._lock:
                self._links.append(link)
            link.start()


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), the way a crashed peer looks on the wire."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()


class _Link:
    def __init__(self, client: socket.socket, upstream: socket.socket, forwarding: threading.Event) -> None:
        self.client = client
        self.upstream = upstream
        self.forwarding = forwarding
        self.silent = False
        self.done = False

    def start(self) -> None:
        threading.Thread(target=self._pump, name="proxy-link", daemon=True).start()

    def reset(self) -> None:
        """Close both ends with RST (SO_LINGER 0), the way a crashed peer looks on the wire."""
        self.done = True
        for sock in (self.client, self.upstream):
            _reset(sock)

    def _pump(self) -> None:
        peers = {self.client: self.upstream, self.upstream: self.client}
        try:
            while not self.done:
                if not self.forwarding.wait(0.05):
                    continue  # paused: read nothing, so bytes queue up in the kernel on both sides
                readable, _, _ = select.select(list(peers), [], [], 0.05)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        self.done = True
                        break
                    if not self.silent:
                        peers[sock].sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            if not self.silent:
                for sock in peers:
                    with contextlib.suppress(OSError):
                        sock.close()
            self.done = True
