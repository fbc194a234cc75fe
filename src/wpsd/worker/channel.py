"""How web nodes and the worker of their host talk: two Unix sockets in a private directory.

- ``sync.sock`` (stream): a web node connects, sends one execution request, reads one outcome.
  The worker's warm sync processes all accept on it, so the kernel hands each connection to
  an idle one and the listen backlog is the queue.
- ``wake.sock`` (datagrams): "a job was submitted" and "job X was dismissed", so the worker
  starts or stops a job at once instead of at its next poll. Losing one costs a poll interval.

The directory is named after the job store and the processes, so a web node and the worker
of the same server find each other, and other servers never meet them; it is private to the
user (0700), since whoever can connect can run processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import struct
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_LENGTH = struct.Struct(">I")
#: frames larger than this are refused: an execution's inputs or outputs beyond it would
#: belong in a reference anyway
MAX_FRAME = 1 << 30


@dataclass(frozen=True)
class Channel:
    """The rendezvous of one job store's web nodes and worker on this host."""

    directory: Path

    @classmethod
    def for_server(cls, database_url: str, process_ids: Sequence[str]) -> Channel:
        """The channel of the servers of these processes on this store: servers of other
        processes sharing a store have workers of their own, each running its processes."""
        key = "\n".join([database_url, *sorted(process_ids)])
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        # Short and fixed-length: Unix socket paths are limited to about 100 bytes.
        return cls(Path(tempfile.gettempdir()) / f"wpsd-{os.getuid()}" / digest)

    @property
    def key(self) -> str:
        """The server's name, the same on every host (the directory's name): it also names
        the server's PostgreSQL notification channel (:mod:`wpsd.backends.pgnotify`)."""
        return self.directory.name

    @property
    def sync_path(self) -> str:
        return str(self.directory / "sync.sock")

    @property
    def wake_path(self) -> str:
        return str(self.directory / "wake.sock")

    @property
    def lock_path(self) -> Path:
        return self.directory / "worker.lock"

    def make(self) -> None:
        self.directory.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory.mkdir(mode=0o700, exist_ok=True)


# ---------------------------------------------------------------- framing


def send_frame(sock: socket.socket, message: Any) -> None:
    data = json.dumps(message).encode("utf-8")
    sock.sendall(_LENGTH.pack(len(data)) + data)


def recv_frame(sock: socket.socket) -> Any:
    """One message, or None when the other side closed the connection first."""
    head = _recv_exactly(sock, _LENGTH.size)
    if head is None:
        return None
    (length,) = _LENGTH.unpack(head)
    if length > MAX_FRAME:
        raise ValueError(f"a frame of {length} bytes is too large")
    body = _recv_exactly(sock, length)
    return None if body is None else json.loads(body)


def _recv_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks, received = [], 0
    while received < size:
        chunk = sock.recv(min(size - received, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        received += len(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------- wake-ups


class Notifier:
    """Tells this host's worker about new and dismissed jobs; silent when none listens."""

    def __init__(self, channel: Channel) -> None:
        #: the server whose workers this notifier wakes; None when it wakes every server's
        self.channel: Channel | None = channel
        self._path = channel.wake_path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)

    def _send(self, message: bytes) -> None:
        try:
            self._sock.sendto(message, self._path)
        except OSError:
            pass  # no worker yet, or its queue is full: it polls the store anyway

    def job_submitted(self) -> None:
        self._send(b"job")

    def job_dismissed(self, job_id: str) -> None:
        self._send(b"cancel " + job_id.encode("ascii", errors="replace"))

    def close(self) -> None:
        self._sock.close()


class BroadcastNotifier(Notifier):
    """Tells every worker of this user on this host, for tools that know no processes."""

    def __init__(self) -> None:
        channel = Channel.for_server("", ())
        super().__init__(channel)
        self.channel = None
        self._root = channel.directory.parent

    def _send(self, message: bytes) -> None:
        for path in self._root.glob("*/wake.sock"):
            try:
                self._sock.sendto(message, str(path))
            except OSError:
                pass
