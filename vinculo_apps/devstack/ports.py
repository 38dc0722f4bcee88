"""Is a port free? Answered the way a server binding it will see it.

A server binds with SO_REUSEADDR, so TIME_WAIT connections left by a killed
process (about 60 s on Linux) do not block it; a check that binds without the
option would refuse a port that is actually free (issue "Acknowledged means
kept": 63 s of refusals after a crash). A port really in use is reported with
the process that listens on it where /proc lets us know.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def port_in_use(port: int, host: str = "127.0.0.1") -> str | None:
    """None when a server could bind `port`, else why not (with the holder if knowable)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            holder = listener_of(port)
            return f"{exc.strerror}" + (f"; held by {holder}" if holder else "")
    return None


def listener_of(port: int) -> str | None:
    """'pid N (name)' of a process listening on TCP `port`, if /proc shows it."""
    inodes = _listening_sockets(port)
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    name = (proc / "comm").read_text().strip()
                    return f"pid {proc.name} ({name})"
        except OSError:
            continue
    return None


def listens(pid: int, port: int) -> bool | None:
    """Whether process `pid` holds the socket listening on TCP `port`; None when /proc
    cannot tell (another system, no such table)."""
    inodes = _listening_sockets(port)
    if not inodes:
        return None if not Path("/proc/net/tcp").exists() else False
    try:
        return any(os.readlink(fd) in inodes for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False  # exited meanwhile


def _listening_sockets(port: int) -> set[str]:
    """'socket:[inode]' of each socket listening on TCP `port` (as /proc/<pid>/fd links)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if (
                len(fields) > 9
                and fields[3] == "0A"
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                inodes.add(f"socket:[{fields[9]}]")
    return inodes
