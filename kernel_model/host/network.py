"""Host sockets, a file kind of the kernel model: TCP and UDP over IPv4 and IPv6, and socket pairs.

The socket calls are the kernel model's (:mod:`kernel_model.sockets`); a socket of this kind
is what they reach when the world allows the network. Option and flag numbers are translated
by name, errors come back as the Linux errno of the same name. The host socket is always
non-blocking: a transfer that would block raises :class:`~kernel_model.fsnodes.WouldBlock`
with a wait on the host descriptor that the sandbox can end (a timeout, Ctrl-C). Unix-domain
sockets on paths are never made here (a path or an abstract name would reach host services
outside the policy's paths), nor raw or packet sockets; a socket pair is connected to nothing
but itself.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from kernel_model.fsnodes import POLLRDHUP, READABLE, S_IFSOCK, WRITABLE, StatInfo, WouldBlock, host_call, host_errno, host_poll
from kernel_model.linux_errno import Errno
from kernel_model.seam import KernelError
from kernel_model.sockets import AF_INET, AF_INET6, AF_UNIX, SOCK_DGRAM, SOCK_STREAM, Address, SocketHandle

if TYPE_CHECKING:
    from kernel_model.waits import HostWaits

INET_FAMILIES = {AF_INET: "AF_INET", AF_INET6: "AF_INET6"}
INET_TYPES = {SOCK_STREAM: "SOCK_STREAM", SOCK_DGRAM: "SOCK_DGRAM"}

# Linux's numbers for the socket options and message flags the guest may use, by name.
_LEVELS = {1: "SOL_SOCKET", 0: "IPPROTO_IP", 6: "IPPROTO_TCP", 41: "IPPROTO_IPV6"}
_OPTIONS = {
    "SOL_SOCKET": {2: "SO_REUSEADDR", 9: "SO_KEEPALIVE", 6: "SO_BROADCAST", 8: "SO_RCVBUF", 7: "SO_SNDBUF",
                   4: "SO_ERROR", 3: "SO_TYPE", 15: "SO_REUSEPORT", 30: "SO_ACCEPTCONN"},
    "IPPROTO_IP": {2: "IP_TTL"},
    "IPPROTO_TCP": {1: "TCP_NODELAY", 4: "TCP_KEEPIDLE", 5: "TCP_KEEPINTVL", 6: "TCP_KEEPCNT"},
    "IPPROTO_IPV6": {26: "IPV6_V6ONLY"},
}
_MSG_FLAGS = {0x1: "MSG_OOB", 0x2: "MSG_PEEK", 0x100: "MSG_WAITALL", 0x20: "MSG_TRUNC"}


def _msg_flags(flags: int) -> int:
    host = 0
    for bit, name in _MSG_FLAGS.items():
        if flags & bit:
            host |= getattr(socket, name, 0)
    # MSG_NOSIGNAL: the sandbox's process never gets SIGPIPE from a socket (Python ignores it);
    # the guest's own SIGPIPE is the model's to raise on EPIPE.
    return host


def _option(level: int, optname: int) -> tuple[int, int]:
    level_name = _LEVELS.get(level)
    name = _OPTIONS.get(level_name or "", {}).get(optname)
    host_level = getattr(socket, level_name or "", None)
    host_name = getattr(socket, name or "", None)
    if host_level is None or host_name is None:
        raise KernelError(Errno.ENOPROTOOPT)
    return host_level, host_name


class HostSocketHandle(SocketHandle):
    """A host socket opened for the guest."""

    def __init__(self, sock: socket.socket, family: int, kind: int, waits: "HostWaits | None" = None) -> None:
        sock.setblocking(False)
        self.sock = sock
        self._waits = waits
        self.family = family
        self.kind = kind
        self._ino = os.fstat(sock.fileno()).st_ino

    def __deepcopy__(self, memo: dict) -> "HostSocketHandle":
        # A connection cannot be copied or rewound: a debugger's snapshot shares it.
        return self

    def _io(self, call, events: int, *args):  # type: ignore[no-untyped-def]
        try:
            return call(*args)
        except (BlockingIOError, InterruptedError):
            raise WouldBlock("a transfer on a host socket", host={self.sock.fileno(): events}) from None
        except OSError as e:
            raise KernelError(host_errno(e), str(e)) from None

    # -- as a file -------------------------------------------------------------------------

    def pread(self, size: int, offset: int) -> bytes:
        return self._io(self.sock.recv, READABLE, size)

    def pwrite(self, data: bytes, offset: int) -> int:
        return self._io(self.sock.send, WRITABLE, data)

    def stat(self) -> StatInfo:
        return StatInfo(mode=S_IFSOCK | 0o777, ino=self._ino, blksize=4096)

    def poll(self) -> int:
        return host_poll({self.sock.fileno(): READABLE | WRITABLE | POLLRDHUP}, 0).get(self.sock.fileno(), 0)

    def wait_fd(self) -> int | None:
        return self.sock.fileno()

    def host_fd(self) -> int | None:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def proc_name(self) -> str | None:
        return f"socket:[{self._ino}]"

    # -- as a socket -----------------------------------------------------------------------

    def connect(self, address: Address) -> None:
        import errno as names

        err = self.sock.connect_ex(address)
        if err in (0, names.EISCONN):
            return  # connected (again: a connect that was in progress has finished)
        if err in (names.EINPROGRESS, names.EALREADY, names.EAGAIN):
            raise WouldBlock("a connect of a host socket", host={self.sock.fileno(): WRITABLE})
        raise KernelError(host_errno(OSError(err, os.strerror(err))))

    def bind(self, address: Address) -> None:
        host_call(self.sock.bind, address)

    def listen(self, backlog: int) -> None:
        host_call(self.sock.listen, backlog)

    def accept(self) -> tuple[SocketHandle, Address | None]:
        conn, peer = self._io(self.sock.accept, READABLE)
        return HostSocketHandle(conn, self.family, self.kind, self._waits), peer

    def send(self, data: bytes, flags: int, address: Address | None) -> int:
        if address is not None:
            return self._io(self.sock.sendto, WRITABLE, data, _msg_flags(flags), address)
        return self._io(self.sock.send, WRITABLE, data, _msg_flags(flags))

    def recv(self, size: int, flags: int) -> tuple[bytes, Address | None]:
        data, peer = self._io(self.sock.recvfrom, READABLE, size, _msg_flags(flags))
        return data, peer if isinstance(peer, tuple) else None

    def shutdown(self, how: int) -> None:
        host_call(self.sock.shutdown, (socket.SHUT_RD, socket.SHUT_WR, socket.SHUT_RDWR)[how])

    def name(self, peer: bool) -> Address:
        got = host_call(self.sock.getpeername if peer else self.sock.getsockname)
        return got if isinstance(got, tuple) else ()

    def setsockopt(self, level: int, option: int, value: int) -> None:
        if level != 1 and self.family == AF_UNIX:
            raise KernelError(Errno.EOPNOTSUPP)
        host_level, host_name = _option(level, option)
        host_call(self.sock.setsockopt, host_level, host_name, value)

    def getsockopt(self, level: int, option: int) -> int:
        if level == 1 and option in (3, 39):  # SO_TYPE, SO_DOMAIN: Linux's numbers
            return super().getsockopt(level, option)
        if level != 1 and self.family == AF_UNIX:
            raise KernelError(Errno.EOPNOTSUPP)  # a Unix socket has options at SOL_SOCKET only
        host_level, host_name = _option(level, option)
        value = host_call(self.sock.getsockopt, host_level, host_name)
        if level == 1 and option == 4 and value:  # SO_ERROR holds a host errno
            value = int(host_errno(OSError(value, "")))
        return value


def open_host_socket(family: int, kind: int, protocol: int, waits: "HostWaits | None" = None) -> HostSocketHandle:
    """A new host TCP/UDP socket (the caller has checked the world allows the network)."""
    sock = host_call(socket.socket, getattr(socket, INET_FAMILIES[family]), getattr(socket, INET_TYPES[kind]), protocol)
    return HostSocketHandle(sock, family, kind, waits)


def host_socketpair(kind: int, waits: "HostWaits | None" = None) -> tuple[HostSocketHandle, HostSocketHandle]:
    """A pair of connected Unix sockets, reaching nothing but each other."""
    a, b = host_call(socket.socketpair, socket.AF_UNIX, getattr(socket, INET_TYPES[kind]))
    return HostSocketHandle(a, AF_UNIX, kind, waits), HostSocketHandle(b, AF_UNIX, kind, waits)
