"""Host sockets, only when the policy's ``[network] allow`` is true: TCP and UDP over IPv4 and
IPv6, and socket pairs.

The guest's socket is a host socket the backend opened (a :class:`HostSocketHandle` in the
guest's own descriptor table); ``read``/``write``/``poll``/``close`` reach it through the open
file like any host descriptor. Addresses are translated between the guest's ``struct
sockaddr_in``/``sockaddr_in6`` and the host's, option and flag numbers by name. Unix-domain
sockets are never created (a path or an abstract name would reach host services outside the
policy's paths), nor raw or packet sockets; ``sendmsg``/``recvmsg`` carry no control messages
(so no descriptor ever passes between the guest and the host).
"""

from __future__ import annotations

import os
import socket
import struct
from typing import TYPE_CHECKING

from kernel_model.host.registry import host_syscall
from kernel_model.fdtable import OpenFile
from kernel_model.files import _iovecs
from kernel_model.fsnodes import READABLE, S_IFSOCK, WRITABLE, Handle, StatInfo, host_call, host_poll
from kernel_model.linux_errno import Errno
from kernel_model.registry import Fd, Int, Ptr, Size, UInt
from kernel_model.seam import KernelError, SyscallRequest

if TYPE_CHECKING:
    from kernel_model.host.backend import HostBackend
    from kernel_model.kernel import Kernel

AF_UNIX, AF_INET, AF_INET6 = 1, 2, 10
SOCK_STREAM, SOCK_DGRAM = 1, 2
SOCK_TYPE_MASK = 0xF
SOCK_NONBLOCK, SOCK_CLOEXEC = 0o4000, 0o2000000
_FAMILIES = {AF_INET: "AF_INET", AF_INET6: "AF_INET6"}
_TYPES = {SOCK_STREAM: "SOCK_STREAM", SOCK_DGRAM: "SOCK_DGRAM"}
SOCKET_RULE = "only TCP and UDP over IPv4 and IPv6 reach the host's network"

# Linux's numbers for the socket options and message flags the guest may use, by name.
_LEVELS = {1: "SOL_SOCKET", 0: "IPPROTO_IP", 6: "IPPROTO_TCP", 41: "IPPROTO_IPV6"}
_OPTIONS = {
    "SOL_SOCKET": {2: "SO_REUSEADDR", 9: "SO_KEEPALIVE", 6: "SO_BROADCAST", 8: "SO_RCVBUF", 7: "SO_SNDBUF",
                   4: "SO_ERROR", 3: "SO_TYPE", 15: "SO_REUSEPORT", 30: "SO_ACCEPTCONN"},
    "IPPROTO_IP": {2: "IP_TTL"},
    "IPPROTO_TCP": {1: "TCP_NODELAY", 4: "TCP_KEEPIDLE", 5: "TCP_KEEPINTVL", 6: "TCP_KEEPCNT"},
    "IPPROTO_IPV6": {26: "IPV6_V6ONLY"},
}
_MSG_FLAGS = {0x1: "MSG_OOB", 0x2: "MSG_PEEK", 0x40: "MSG_DONTWAIT", 0x100: "MSG_WAITALL", 0x20: "MSG_TRUNC"}
MSG_NOSIGNAL = 0x4000


class HostSocketHandle(Handle):
    """A host socket opened for the guest."""

    seekable = False

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._ino = os.fstat(sock.fileno()).st_ino

    def __deepcopy__(self, memo: dict) -> "HostSocketHandle":
        # A connection cannot be copied or rewound: a debugger's snapshot shares it.
        return self

    def pread(self, size: int, offset: int) -> bytes:
        return host_call(self.sock.recv, size)

    def pwrite(self, data: bytes, offset: int) -> int:
        return host_call(self.sock.send, data)

    def stat(self) -> StatInfo:
        return StatInfo(mode=S_IFSOCK | 0o777, ino=self._ino, blksize=4096)

    def poll(self) -> int:
        return host_poll({self.sock.fileno(): READABLE | WRITABLE}, 0).get(self.sock.fileno(), 0)

    def wait_fd(self) -> int | None:
        return self.sock.fileno()

    def host_fd(self) -> int | None:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def proc_name(self) -> str | None:
        return f"socket:[{self._ino}]"


def _socket_of(b: "HostBackend", fd: int) -> HostSocketHandle:
    handle = b.kernel.fds.get_io(fd).handle
    if not isinstance(handle, HostSocketHandle):
        raise KernelError(Errno.ENOTSOCK)
    return handle


def _install(k: "Kernel", sock: socket.socket, flags: int) -> int:
    sock.setblocking(not flags & SOCK_NONBLOCK)
    of = OpenFile(HostSocketHandle(sock), 2 | (0o4000 if flags & SOCK_NONBLOCK else 0), "")  # O_RDWR
    return k.fds.install(of, cloexec=bool(flags & SOCK_CLOEXEC))


# -- addresses -----------------------------------------------------------------------------


def read_address(k: "Kernel", family: int, addr: int, addrlen: int) -> tuple:
    """A guest ``struct sockaddr_in``/``sockaddr_in6`` as the host's address tuple."""
    if addrlen < 2 or addrlen > 128:
        raise KernelError(Errno.EINVAL)
    raw = k.memory.read(addr, addrlen)
    guest_family = int.from_bytes(raw[:2], k.structs.byteorder)
    if guest_family != family:
        raise KernelError(Errno.EAFNOSUPPORT)
    if family == AF_INET:
        if addrlen < 16:
            raise KernelError(Errno.EINVAL)
        port = int.from_bytes(raw[2:4], "big")
        return (socket.inet_ntop(socket.AF_INET, raw[4:8]), port)
    if addrlen < 24:
        raise KernelError(Errno.EINVAL)
    port, flowinfo = struct.unpack(">HI", raw[2:8])
    scope = int.from_bytes(raw[24:28], k.structs.byteorder) if addrlen >= 28 else 0
    return (socket.inet_ntop(socket.AF_INET6, raw[8:24]), port, flowinfo, scope)


def pack_address(k: "Kernel", family: int, address: tuple) -> bytes:
    """The host's address tuple as the guest's ``struct sockaddr_in``/``sockaddr_in6``."""
    head = family.to_bytes(2, k.structs.byteorder)
    if family == AF_INET:
        return head + address[1].to_bytes(2, "big") + socket.inet_pton(socket.AF_INET, address[0]) + bytes(8)
    host, port, flowinfo, scope = address
    return (head + struct.pack(">HI", port, flowinfo) + socket.inet_pton(socket.AF_INET6, host)
            + scope.to_bytes(4, k.structs.byteorder))


def write_address(k: "Kernel", family: int, address: tuple, addr: int, addrlen_ptr: int) -> None:
    """Write an address where the guest asked (``*addrlen`` in: room; out: the full size)."""
    if not addr:
        return
    room = int.from_bytes(k.memory.read(addrlen_ptr, 4), k.structs.byteorder, signed=True)
    if room < 0:
        raise KernelError(Errno.EINVAL)
    packed = pack_address(k, family, address)
    k.memory.write(addr, packed[:room])
    k.memory.write(addrlen_ptr, len(packed).to_bytes(4, k.structs.byteorder))


def _msg_flags(flags: int) -> int:
    host = 0
    for bit, name in _MSG_FLAGS.items():
        if flags & bit:
            host |= getattr(socket, name, 0)
    # MSG_NOSIGNAL: the sandbox's process never gets SIGPIPE from a socket (Python ignores it),
    # so only the guest's own SIGPIPE is in question; the model raises it on EPIPE otherwise.
    return host


# -- the calls -----------------------------------------------------------------------------


@host_syscall("socket", partial="TCP and UDP over IPv4 and IPv6; other families and raw sockets are refused")
def host_socket(b: "HostBackend", req: SyscallRequest, domain: Int, type: Int, protocol: Int) -> int:
    k = b.kernel
    kind = type & SOCK_TYPE_MASK
    if type & ~(SOCK_TYPE_MASK | SOCK_NONBLOCK | SOCK_CLOEXEC):
        raise KernelError(Errno.EINVAL)
    if domain not in _FAMILIES:
        raise b.log.deny(Errno.EAFNOSUPPORT, f"socket family {domain}", SOCKET_RULE)
    if kind not in _TYPES:
        raise b.log.deny(Errno.EPERM if kind == 3 else Errno.EINVAL, f"socket type {kind}", SOCKET_RULE)
    k.fds.check_free()
    sock = host_call(socket.socket, getattr(socket, _FAMILIES[domain]), getattr(socket, _TYPES[kind]), protocol)
    return _install(k, sock, type)


@host_syscall("socketpair", partial="AF_UNIX stream and datagram pairs, connected to nothing but each other")
def host_socketpair(b: "HostBackend", req: SyscallRequest, domain: Int, type: Int, protocol: Int, sv: Ptr) -> int:
    k = b.kernel
    kind = type & SOCK_TYPE_MASK
    if domain != AF_UNIX:
        raise KernelError(Errno.EOPNOTSUPP if domain in _FAMILIES else Errno.EAFNOSUPPORT)
    if kind not in _TYPES or protocol != 0:
        raise KernelError(Errno.EINVAL if kind not in _TYPES else Errno.EPROTONOSUPPORT)
    k.memory.read(sv, 8)
    if len(k.fds.items()) + 2 > k.fds.limit:
        raise KernelError(Errno.EMFILE)
    a, c = host_call(socket.socketpair, socket.AF_UNIX, getattr(socket, _TYPES[kind]))
    fds = [_install(k, a, type), _install(k, c, type)]
    k.memory.write(sv, struct.pack(k.structs.endian + "ii", *fds))
    return 0


@host_syscall("connect")
def host_connect(b: "HostBackend", req: SyscallRequest, sockfd: Fd, addr: Ptr, addrlen: UInt) -> int:
    handle = _socket_of(b, sockfd)
    sock = handle.sock
    err = host_call(sock.connect_ex, read_address(b.kernel, _family_of(sock), addr, addrlen))
    if err:
        raise KernelError(_errno_named(err))
    return 0


@host_syscall("bind")
def host_bind(b: "HostBackend", req: SyscallRequest, sockfd: Fd, addr: Ptr, addrlen: UInt) -> int:
    sock = _socket_of(b, sockfd).sock
    host_call(sock.bind, read_address(b.kernel, _family_of(sock), addr, addrlen))
    return 0


@host_syscall("listen")
def host_listen(b: "HostBackend", req: SyscallRequest, sockfd: Fd, backlog: Int) -> int:
    host_call(_socket_of(b, sockfd).sock.listen, max(backlog, 0))
    return 0


@host_syscall("accept4")
def host_accept4(b: "HostBackend", req: SyscallRequest, sockfd: Fd, addr: Ptr, addrlen: Ptr, flags: Int) -> int:
    k = b.kernel
    if flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC):
        raise KernelError(Errno.EINVAL)
    sock = _socket_of(b, sockfd).sock
    k.fds.check_free()
    conn, peer = host_call(sock.accept)
    fd = _install(k, conn, flags)
    write_address(k, _family_of(sock), peer, addr, addrlen)
    return fd


@host_syscall("accept")
def host_accept(b: "HostBackend", req: SyscallRequest, sockfd: Fd, addr: Ptr, addrlen: Ptr) -> int:
    return host_accept4(b, req, sockfd, addr, addrlen, 0)


def _family_of(sock: socket.socket) -> int:
    return AF_INET6 if sock.family == socket.AF_INET6 else AF_INET


def _errno_named(host_number: int) -> Errno:
    from kernel_model.fsnodes import host_errno

    return host_errno(OSError(host_number, ""))


@host_syscall("sendto")
def host_sendto(
    b: "HostBackend", req: SyscallRequest, sockfd: Fd, buf: Ptr, len: Size, flags: UInt, dest_addr: Ptr, addrlen: UInt
) -> int:
    k = b.kernel
    sock = _socket_of(b, sockfd).sock
    data = k.memory.read(buf, min(len, 1 << 26))
    if dest_addr:
        return host_call(sock.sendto, data, _msg_flags(flags), read_address(k, _family_of(sock), dest_addr, addrlen))
    return host_call(sock.send, data, _msg_flags(flags))


@host_syscall("recvfrom")
def host_recvfrom(
    b: "HostBackend", req: SyscallRequest, sockfd: Fd, buf: Ptr, len: Size, flags: UInt, src_addr: Ptr, addrlen: Ptr
) -> int:
    k = b.kernel
    sock = _socket_of(b, sockfd).sock
    data, peer = host_call(sock.recvfrom, min(len, 1 << 26), _msg_flags(flags))
    if src_addr and peer:
        write_address(k, _family_of(sock), peer, src_addr, addrlen)
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


@host_syscall("sendmsg", partial="no control messages (EINVAL with any)")
def host_sendmsg(b: "HostBackend", req: SyscallRequest, sockfd: Fd, msg: Ptr, flags: UInt) -> int:
    k = b.kernel
    sock = _socket_of(b, sockfd).sock
    name, namelen, segs, controllen = _msghdr(k, msg)
    if controllen:
        raise KernelError(Errno.EINVAL, "control messages are not passed to the host")
    data = b"".join(k.memory.read(a, n) for a, n in segs)
    if name:
        return host_call(sock.sendto, data, _msg_flags(flags), read_address(k, _family_of(sock), name, namelen))
    return host_call(sock.send, data, _msg_flags(flags))


@host_syscall("recvmsg", partial="no control messages")
def host_recvmsg(b: "HostBackend", req: SyscallRequest, sockfd: Fd, msg: Ptr, flags: UInt) -> int:
    k = b.kernel
    sock = _socket_of(b, sockfd).sock
    name, namelen, segs, _ = _msghdr(k, msg)
    data, peer = host_call(sock.recvfrom, sum(n for _, n in segs), _msg_flags(flags))
    done = 0
    for addr, n in segs:
        chunk = data[done : done + n]
        k.memory.write(addr, chunk)
        done += len(chunk)
    word = k.arch.word_size
    if name and peer:
        packed = pack_address(k, _family_of(sock), peer)
        k.memory.write(name, packed[:namelen])
        k.memory.write(msg + word, len(packed).to_bytes(4, k.structs.byteorder))
    control_len_at = msg + (5 * word if word == 8 else 5 * 4)
    k.memory.write(control_len_at, bytes(word))  # no control messages came back
    return done


@host_syscall("shutdown")
def host_shutdown(b: "HostBackend", req: SyscallRequest, sockfd: Fd, how: Int) -> int:
    names = {0: "SHUT_RD", 1: "SHUT_WR", 2: "SHUT_RDWR"}
    if how not in names:
        raise KernelError(Errno.EINVAL)
    host_call(_socket_of(b, sockfd).sock.shutdown, getattr(socket, names[how]))
    return 0


def _write_name(b: "HostBackend", sockfd: int, addr: int, addrlen: int, peer: bool) -> int:
    sock = _socket_of(b, sockfd).sock
    name = host_call(sock.getpeername if peer else sock.getsockname)
    write_address(b.kernel, _family_of(sock), name, addr, addrlen)
    return 0


@host_syscall("getsockname")
def host_getsockname(b: "HostBackend", req: SyscallRequest, sockfd: Fd, addr: Ptr, addrlen: Ptr) -> int:
    return _write_name(b, sockfd, addr, addrlen, peer=False)


@host_syscall("getpeername")
def host_getpeername(b: "HostBackend", req: SyscallRequest, sockfd: Fd, addr: Ptr, addrlen: Ptr) -> int:
    return _write_name(b, sockfd, addr, addrlen, peer=True)


def _option(level: int, optname: int) -> tuple[int, int]:
    level_name = _LEVELS.get(level)
    name = _OPTIONS.get(level_name or "", {}).get(optname)
    host_level = getattr(socket, level_name or "", None)
    host_name = getattr(socket, name or "", None)
    if host_level is None or host_name is None:
        raise KernelError(Errno.ENOPROTOOPT)
    return host_level, host_name


@host_syscall("setsockopt", partial="integer options of SOL_SOCKET, IP, TCP and IPv6 that name no other process")
def host_setsockopt(
    b: "HostBackend", req: SyscallRequest, sockfd: Fd, level: Int, optname: Int, optval: Ptr, optlen: UInt
) -> int:
    k = b.kernel
    sock = _socket_of(b, sockfd).sock
    host_level, host_name = _option(level, optname)
    if optlen < 4:
        raise KernelError(Errno.EINVAL)
    value = int.from_bytes(k.memory.read(optval, 4), k.structs.byteorder, signed=True)
    host_call(sock.setsockopt, host_level, host_name, value)
    return 0


@host_syscall("getsockopt", partial="integer options of SOL_SOCKET, IP, TCP and IPv6")
def host_getsockopt(
    b: "HostBackend", req: SyscallRequest, sockfd: Fd, level: Int, optname: Int, optval: Ptr, optlen: Ptr
) -> int:
    k = b.kernel
    sock = _socket_of(b, sockfd).sock
    host_level, host_name = _option(level, optname)
    room = int.from_bytes(k.memory.read(optlen, 4), k.structs.byteorder, signed=True)
    if room < 0:
        raise KernelError(Errno.EINVAL)
    value = host_call(sock.getsockopt, host_level, host_name)
    if level == 1 and optname == 4 and value:  # SO_ERROR holds a host errno
        value = int(_errno_named(value))
    elif level == 1 and optname == 3:  # SO_TYPE
        value = SOCK_STREAM if value == socket.SOCK_STREAM else SOCK_DGRAM
    k.memory.write(optval, value.to_bytes(4, k.structs.byteorder, signed=True)[: min(room, 4)])
    k.memory.write(optlen, min(room, 4).to_bytes(4, k.structs.byteorder))
    return 0
