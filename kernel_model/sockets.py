"""The socket system calls: decoded and checked here once, whatever kind of socket serves them.

A socket is a file kind: its open file's handle is a :class:`SocketHandle`, and each call below
reads the guest's arguments (addresses in the guest arch's ``struct sockaddr`` layout, option
values, message headers), asks the handle, and writes the answer back. A socket that reaches
the host's network (TCP and UDP over IPv4 and IPv6) is made by
:mod:`kernel_model.host.network`, and only when the world allows the network; a pair of
connected Unix sockets reaches nothing but itself.
"""

from __future__ import annotations

import socket as host_socket
import struct
from typing import TYPE_CHECKING, Callable, TypeVar

from kernel_model.fdtable import OpenFile
from kernel_model.files import _iovecs
from kernel_model.fsnodes import Handle, WouldBlock
from kernel_model.linux_errno import Errno
from kernel_model.registry import Fd, Int, Ptr, Size, syscall
from kernel_model.seam import KernelError, SyscallRequest

if TYPE_CHECKING:
    from kernel_model.kernel import Kernel

T = TypeVar("T")

AF_UNIX, AF_INET, AF_INET6 = 1, 2, 10
SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET = 1, 2, 3, 5
SOCK_TYPE_MASK = 0xF
SOCK_NONBLOCK, SOCK_CLOEXEC = 0o4000, 0o2000000
O_RDWR, O_NONBLOCK = 2, 0o4000
SOL_SOCKET = 1
SO_TYPE, SO_ERROR, SO_DOMAIN = 3, 4, 39
MSG_NOSIGNAL = 0x4000
NETWORK_RULE = "network.allow = false (the default: no network)"
SOCKET_RULE = "only TCP and UDP over IPv4 and IPv6 reach the host's network"

Address = tuple


class SocketHandle(Handle):
    """An open socket: what the socket calls ask of it. Subclasses implement what they support.

    Addresses are Python tuples (``(host, port)`` for IPv4, ``(host, port, flowinfo, scope)``
    for IPv6); numbers (levels, options, flags) are Linux's. An operation that would block
    raises :class:`~kernel_model.fsnodes.WouldBlock`; the call decides whether to wait.
    """

    seekable = False
    family = AF_UNIX
    kind = SOCK_STREAM

    def connect(self, address: Address) -> None:
        """Connect to ``address``."""
        raise KernelError(Errno.EOPNOTSUPP)

    def bind(self, address: Address) -> None:
        """Give the socket ``address``."""
        raise KernelError(Errno.EOPNOTSUPP)

    def listen(self, backlog: int) -> None:
        """Accept connections."""
        raise KernelError(Errno.EOPNOTSUPP)

    def accept(self) -> tuple["SocketHandle", Address | None]:
        """A connection and its peer's address."""
        raise KernelError(Errno.EOPNOTSUPP)

    def send(self, data: bytes, flags: int, address: Address | None) -> int:
        """Send ``data`` (to ``address`` when given); how much was sent."""
        raise KernelError(Errno.EOPNOTSUPP)

    def recv(self, size: int, flags: int) -> tuple[bytes, Address | None]:
        """Receive up to ``size`` bytes and the sender's address (None when it has none)."""
        raise KernelError(Errno.EOPNOTSUPP)

    def shutdown(self, how: int) -> None:
        """Shut down reading (0), writing (1) or both (2)."""
        raise KernelError(Errno.EOPNOTSUPP)

    def name(self, peer: bool) -> Address:
        """The socket's own address, or its peer's."""
        raise KernelError(Errno.EOPNOTSUPP)

    def setsockopt(self, level: int, option: int, value: int) -> None:
        """Set an integer option."""
        raise KernelError(Errno.ENOPROTOOPT)

    def getsockopt(self, level: int, option: int) -> int:
        """An integer option's value."""
        if level == SOL_SOCKET and option == SO_TYPE:
            return self.kind
        if level == SOL_SOCKET and option == SO_DOMAIN:
            return self.family
        raise KernelError(Errno.ENOPROTOOPT)


def _socket(k: "Kernel", fd: int) -> tuple[OpenFile, SocketHandle]:
    of = k.fds.get_io(fd)
    if not isinstance(of.handle, SocketHandle):
        raise KernelError(Errno.ENOTSOCK)
    return of, of.handle


def _blocking(of: OpenFile, op: Callable[[], T], nonblock: bool = False) -> T:
    """Run a socket operation, waiting (unless non-blocking) while it would block."""
    while True:
        try:
            return op()
        except WouldBlock as e:
            if nonblock:
                raise KernelError(Errno.EAGAIN) from None
            of.wait_or_raise(e)


def install_socket(k: "Kernel", handle: SocketHandle, flags: int) -> int:
    """Give a new socket a descriptor, with SOCK_NONBLOCK/SOCK_CLOEXEC from ``flags``."""
    of = OpenFile(handle, O_RDWR | (O_NONBLOCK if flags & SOCK_NONBLOCK else 0), "")
    return k.fds.install(of, cloexec=bool(flags & SOCK_CLOEXEC))


def _refuse(k: "Kernel", errno: Errno, what: str, rule: str) -> KernelError:
    if k.denials is not None:
        return k.denials.deny(errno, what, rule)
    return KernelError(errno, rule)


# -- addresses -----------------------------------------------------------------------------


def read_address(k: "Kernel", family: int, addr: int, addrlen: int) -> Address:
    """A guest ``struct sockaddr_in``/``sockaddr_in6`` as an address tuple."""
    if addrlen < 2 or addrlen > 128:
        raise KernelError(Errno.EINVAL)
    raw = k.memory.read(addr, addrlen)
    guest_family = int.from_bytes(raw[:2], k.structs.byteorder)
    if guest_family != family:
        raise KernelError(Errno.EAFNOSUPPORT)
    if family == AF_INET:
        if addrlen < 16:
            raise KernelError(Errno.EINVAL)
        return (host_socket.inet_ntop(host_socket.AF_INET, raw[4:8]), int.from_bytes(raw[2:4], "big"))
    if family == AF_INET6:
        if addrlen < 24:
            raise KernelError(Errno.EINVAL)
        port, flowinfo = struct.unpack(">HI", raw[2:8])
        scope = int.from_bytes(raw[24:28], k.structs.byteorder) if addrlen >= 28 else 0
        return (host_socket.inet_ntop(host_socket.AF_INET6, raw[8:24]), port, flowinfo, scope)
    raise KernelError(Errno.EAFNOSUPPORT)


def pack_address(k: "Kernel", family: int, address: Address) -> bytes:
    """An address tuple as the guest's ``struct sockaddr_in``/``sockaddr_in6``."""
    head = family.to_bytes(2, k.structs.byteorder)
    if family == AF_INET:
        return head + address[1].to_bytes(2, "big") + host_socket.inet_pton(host_socket.AF_INET, address[0]) + bytes(8)
    if family == AF_INET6:
        host, port, flowinfo, scope = address
        return (head + struct.pack(">HI", port, flowinfo) + host_socket.inet_pton(host_socket.AF_INET6, host)
                + scope.to_bytes(4, k.structs.byteorder))
    return head  # an unnamed Unix socket: only the family


def write_address(k: "Kernel", family: int, address: Address | None, addr: int, addrlen_ptr: int) -> None:
    """Write an address where the guest asked (``*addrlen`` in: room; out: the full size)."""
    if not addr or address is None:
        return
    room = int.from_bytes(k.memory.read(addrlen_ptr, 4), k.structs.byteorder, signed=True)
    if room < 0:
        raise KernelError(Errno.EINVAL)
    packed = pack_address(k, family, address)
    k.memory.write(addr, packed[:room])
    k.memory.write(addrlen_ptr, len(packed).to_bytes(4, k.structs.byteorder))


# -- the calls -----------------------------------------------------------------------------


@syscall("socket", partial="TCP and UDP over IPv4 and IPv6, to the host's network where the policy allows it; other families EAFNOSUPPORT")
def sys_socket(k: "Kernel", req: SyscallRequest, domain: Int, type: Int, protocol: Int) -> int:
    from kernel_model.host.network import INET_FAMILIES, INET_TYPES, open_host_socket

    kind = type & SOCK_TYPE_MASK
    if type & ~(SOCK_TYPE_MASK | SOCK_NONBLOCK | SOCK_CLOEXEC):
        raise KernelError(Errno.EINVAL)
    if domain not in INET_FAMILIES:
        raise _refuse(k, Errno.EAFNOSUPPORT, f"socket family {domain}", SOCKET_RULE)
    if kind not in INET_TYPES:
        raise _refuse(k, Errno.EPERM if kind == SOCK_RAW else Errno.EINVAL, f"socket type {kind}", SOCKET_RULE)
    if not k.network:
        raise _refuse(k, Errno.EACCES, "socket", NETWORK_RULE)
    k.fds.check_free()
    return install_socket(k, open_host_socket(domain, kind, protocol, k.waits), type)


@syscall("socketpair", partial="AF_UNIX stream and datagram pairs, connected to nothing but each other")
def sys_socketpair(k: "Kernel", req: SyscallRequest, domain: Int, type: Int, protocol: Int, sv: Ptr) -> int:
    from kernel_model.host.network import INET_FAMILIES, INET_TYPES, host_socketpair

    kind = type & SOCK_TYPE_MASK
    if type & ~(SOCK_TYPE_MASK | SOCK_NONBLOCK | SOCK_CLOEXEC):
        raise KernelError(Errno.EINVAL)
    if domain != AF_UNIX:
        raise KernelError(Errno.EOPNOTSUPP if domain in INET_FAMILIES else Errno.EAFNOSUPPORT)
    if kind not in INET_TYPES or protocol != 0:
        raise KernelError(Errno.EINVAL if kind not in INET_TYPES else Errno.EPROTONOSUPPORT)
    k.memory.read(sv, 8)
    if len(k.fds.items()) + 2 > k.fds.limit:
        raise KernelError(Errno.EMFILE)
    a, b = host_socketpair(kind, k.waits)
    fds = [install_socket(k, a, type), install_socket(k, b, type)]
    k.memory.write(sv, struct.pack(k.structs.endian + "ii", *fds))
    return 0


@syscall("connect")
def sys_connect(k: "Kernel", req: SyscallRequest, sockfd: Fd, addr: Ptr, addrlen: Int) -> int:
    of, sock = _socket(k, sockfd)
    address = read_address(k, sock.family, addr, addrlen)
    if of.flags & O_NONBLOCK:
        try:
            sock.connect(address)
        except WouldBlock:
            raise KernelError(Errno.EINPROGRESS) from None
        return 0
    _blocking(of, lambda: sock.connect(address))
    return 0


@syscall("bind")
def sys_bind(k: "Kernel", req: SyscallRequest, sockfd: Fd, addr: Ptr, addrlen: Int) -> int:
    _, sock = _socket(k, sockfd)
    sock.bind(read_address(k, sock.family, addr, addrlen))
    return 0


@syscall("listen")
def sys_listen(k: "Kernel", req: SyscallRequest, sockfd: Fd, backlog: Int) -> int:
    _socket(k, sockfd)[1].listen(max(backlog, 0))
    return 0


@syscall("accept4")
def sys_accept4(k: "Kernel", req: SyscallRequest, sockfd: Fd, addr: Ptr, addrlen: Ptr, flags: Int) -> int:
    if flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC):
        raise KernelError(Errno.EINVAL)
    of, sock = _socket(k, sockfd)
    k.fds.check_free()
    conn, peer = _blocking(of, sock.accept, bool(of.flags & O_NONBLOCK))
    fd = install_socket(k, conn, flags)
    write_address(k, sock.family, peer, addr, addrlen)
    return fd


@syscall("accept")
def sys_accept(k: "Kernel", req: SyscallRequest, sockfd: Fd, addr: Ptr, addrlen: Ptr) -> int:
    return sys_accept4(k, req, sockfd, addr, addrlen, 0)


MSG_DONTWAIT = 0x40
_MAX_TRANSFER = 1 << 26


def _send(k: "Kernel", of: OpenFile, sock: SocketHandle, data: bytes, flags: int, address: Address | None) -> int:
    from kernel_model.files import raising_write_signals

    nonblock = bool(of.flags & O_NONBLOCK or flags & MSG_DONTWAIT)
    if flags & MSG_NOSIGNAL:
        return _blocking(of, lambda: sock.send(data, flags, address), nonblock)
    with raising_write_signals(k):
        return _blocking(of, lambda: sock.send(data, flags, address), nonblock)


@syscall("sendto")
def sys_sendto(
    k: "Kernel", req: SyscallRequest, sockfd: Fd, buf: Ptr, len: Size, flags: Int, dest_addr: Ptr, addrlen: Int
) -> int:
    of, sock = _socket(k, sockfd)
    data = k.memory.read(buf, min(len, _MAX_TRANSFER))
    address = read_address(k, sock.family, dest_addr, addrlen) if dest_addr else None
    return _send(k, of, sock, data, flags, address)


@syscall("recvfrom")
def sys_recvfrom(
    k: "Kernel", req: SyscallRequest, sockfd: Fd, buf: Ptr, len: Size, flags: Int, src_addr: Ptr, addrlen: Ptr
) -> int:
    of, sock = _socket(k, sockfd)
    nonblock = bool(of.flags & O_NONBLOCK or flags & MSG_DONTWAIT)
    data, peer = _blocking(of, lambda: sock.recv(min(len, _MAX_TRANSFER), flags), nonblock)
    if src_addr:
        write_address(k, sock.family, peer, src_addr, addrlen)
    return _deliver(k, buf, data)


def _deliver(k: "Kernel", buf: int, data: bytes) -> int:
    """Copy received bytes to the guest; how many there were."""
    k.memory.write(buf, data)
    return len(data)


def _msghdr(k: "Kernel", msg: int) -> tuple[int, int, list[tuple[int, int]], int]:
    """struct msghdr: (name, namelen, the iovec segments, controllen)."""
    word = k.arch.word_size
    fmt = k.structs.endian + ("QI4xQQQQi4x" if word == 8 else "IIIIIIi")
    raw = k.memory.read(msg, struct.calcsize(fmt))
    name, namelen, iov, iovlen, _control, controllen, _flags = struct.unpack(fmt, raw)
    return name, namelen, _iovecs(k, iov, iovlen), controllen


@syscall("sendmsg", partial="no control messages (EINVAL with any)")
def sys_sendmsg(k: "Kernel", req: SyscallRequest, sockfd: Fd, msg: Ptr, flags: Int) -> int:
    of, sock = _socket(k, sockfd)
    name, namelen, segs, controllen = _msghdr(k, msg)
    if controllen:
        raise KernelError(Errno.EINVAL, "control messages are not supported")
    data = b"".join(k.memory.read(a, n) for a, n in segs)
    address = read_address(k, sock.family, name, namelen) if name else None
    return _send(k, of, sock, data, flags, address)


@syscall("recvmsg", partial="no control messages")
def sys_recvmsg(k: "Kernel", req: SyscallRequest, sockfd: Fd, msg: Ptr, flags: Int) -> int:
    of, sock = _socket(k, sockfd)
    name, namelen, segs, _ = _msghdr(k, msg)
    nonblock = bool(of.flags & O_NONBLOCK or flags & MSG_DONTWAIT)
    data, peer = _blocking(of, lambda: sock.recv(sum(n for _, n in segs), flags), nonblock)
    done = 0
    for addr, n in segs:
        chunk = data[done : done + n]
        k.memory.write(addr, chunk)
        done += len(chunk)
    word = k.arch.word_size
    if name:
        packed = pack_address(k, sock.family, peer) if peer is not None else b""
        k.memory.write(name, packed[:namelen])
        k.memory.write(msg + word, len(packed).to_bytes(4, k.structs.byteorder))
    control_len_at = msg + (5 * word if word == 8 else 5 * 4)
    k.memory.write(control_len_at, bytes(word))  # no control messages came back
    return done


@syscall("shutdown")
def sys_shutdown(k: "Kernel", req: SyscallRequest, sockfd: Fd, how: Int) -> int:
    if how not in (0, 1, 2):
        raise KernelError(Errno.EINVAL)
    _socket(k, sockfd)[1].shutdown(how)
    return 0


@syscall("getsockname")
def sys_getsockname(k: "Kernel", req: SyscallRequest, sockfd: Fd, addr: Ptr, addrlen: Ptr) -> int:
    _, sock = _socket(k, sockfd)
    write_address(k, sock.family, sock.name(peer=False), addr, addrlen)
    return 0


@syscall("getpeername")
def sys_getpeername(k: "Kernel", req: SyscallRequest, sockfd: Fd, addr: Ptr, addrlen: Ptr) -> int:
    _, sock = _socket(k, sockfd)
    write_address(k, sock.family, sock.name(peer=True), addr, addrlen)
    return 0


@syscall("setsockopt", partial="integer options of SOL_SOCKET, IP, TCP and IPv6 that name no other process")
def sys_setsockopt(k: "Kernel", req: SyscallRequest, sockfd: Fd, level: Int, optname: Int, optval: Ptr, optlen: Int) -> int:
    _, sock = _socket(k, sockfd)
    if optlen < 4:
        raise KernelError(Errno.EINVAL)
    sock.setsockopt(level, optname, int.from_bytes(k.memory.read(optval, 4), k.structs.byteorder, signed=True))
    return 0


@syscall("getsockopt", partial="integer options of SOL_SOCKET, IP, TCP and IPv6")
def sys_getsockopt(k: "Kernel", req: SyscallRequest, sockfd: Fd, level: Int, optname: Int, optval: Ptr, optlen: Ptr) -> int:
    _, sock = _socket(k, sockfd)
    room = int.from_bytes(k.memory.read(optlen, 4), k.structs.byteorder, signed=True)
    if room < 0:
        raise KernelError(Errno.EINVAL)
    value = sock.getsockopt(level, optname)
    k.memory.write(optval, value.to_bytes(4, k.structs.byteorder, signed=True)[: min(room, 4)])
    k.memory.write(optlen, min(room, 4).to_bytes(4, k.structs.byteorder))
    return 0
