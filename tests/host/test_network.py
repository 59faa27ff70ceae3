"""With ``[network] allow = true`` the guest's TCP and UDP sockets are the host's; Unix-domain
and raw sockets stay closed, and without the rule every socket call is refused."""

from __future__ import annotations

import socket
import struct
import threading

import pytest

from kernel_model.host import policy_from_dict
from sandbox import Sandbox

ARCHES = ["x86_64", "aarch64"]
AF_UNIX, AF_INET, AF_INET6, SOCK_STREAM, SOCK_DGRAM, SOCK_RAW = 1, 2, 10, 1, 2, 3


@pytest.fixture(params=ARCHES)
def arch(request):
    return request.param


def networked(arch: str, tmp_path) -> Sandbox:
    policy = policy_from_dict({"paths": {str(tmp_path): "ro"}, "network": {"allow": True}})
    return Sandbox(arch, kernel="host", cwd=str(tmp_path), policy=policy)


def sockaddr_in(port: int, ip: str = "127.0.0.1") -> bytes:
    return struct.pack("<H", AF_INET) + port.to_bytes(2, "big") + socket.inet_aton(ip) + bytes(8)


class Echo(threading.Thread):
    """A one-connection TCP echo server on the loopback."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.port = self.server.getsockname()[1]

    def run(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            conn.sendall(b"echo:" + conn.recv(100))
        self.server.close()


def test_a_tcp_connection_is_the_hosts(arch, tmp_path):
    echo = Echo()
    echo.start()
    sb = networked(arch, tmp_path)
    fd = sb.syscall("socket", AF_INET, SOCK_STREAM, 0).ret
    assert fd >= 3
    assert sb.syscall("connect", fd, sockaddr_in(echo.port), 16).ret == 0
    assert sb.syscall("write", fd, b"ping", 4).ret == 4
    buf = bytearray(64)
    n = sb.syscall("read", fd, buf, 64).ret
    assert bytes(buf[:n]) == b"echo:ping"
    name, length = bytearray(16), bytearray(struct.pack("<i", 16))
    assert sb.syscall("getpeername", fd, name, length).ret == 0
    assert bytes(name) == sockaddr_in(echo.port)
    assert sb.syscall("close", fd).ret == 0
    echo.join(5)


def test_udp_datagrams_carry_their_addresses(arch, tmp_path):
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    sb = networked(arch, tmp_path)
    fd = sb.syscall("socket", AF_INET, SOCK_DGRAM, 0).ret
    assert sb.syscall("bind", fd, sockaddr_in(0), 16).ret == 0
    mine, length = bytearray(16), bytearray(struct.pack("<i", 16))
    sb.syscall("getsockname", fd, mine, length)
    my_port = int.from_bytes(mine[2:4], "big")
    assert sb.syscall("sendto", fd, b"hello", 5, 0, sockaddr_in(peer.getsockname()[1]), 16).ret == 5
    data, sender = peer.recvfrom(100)
    assert (data, sender) == (b"hello", ("127.0.0.1", my_port))
    peer.sendto(b"back", ("127.0.0.1", my_port))
    buf, src, srclen = bytearray(16), bytearray(16), bytearray(struct.pack("<i", 16))
    assert sb.syscall("recvfrom", fd, buf, 16, 0, src, srclen).ret == 4
    assert bytes(buf[:4]) == b"back" and bytes(src) == sockaddr_in(peer.getsockname()[1])
    peer.close()


def test_socket_options_are_translated(arch, tmp_path):
    sb = networked(arch, tmp_path)
    fd = sb.syscall("socket", AF_INET, SOCK_STREAM, 0).ret
    assert sb.syscall("setsockopt", fd, 1, 2, struct.pack("<i", 1), 4).ret == 0  # SO_REUSEADDR
    value, length = bytearray(4), bytearray(struct.pack("<i", 4))
    assert sb.syscall("getsockopt", fd, 1, 2, value, length).ret == 0
    assert struct.unpack("<i", value)[0] == 1
    assert sb.syscall("getsockopt", fd, 1, 3, value, length).ret == 0  # SO_TYPE
    assert struct.unpack("<i", value)[0] == SOCK_STREAM
    assert sb.syscall("setsockopt", fd, 1, 25, b"eth0\0", 5).errno == "ENOPROTOOPT"  # SO_BINDTODEVICE


def test_unix_and_raw_sockets_stay_closed(arch, tmp_path):
    sb = networked(arch, tmp_path)
    rec = sb.syscall("socket", AF_UNIX, SOCK_STREAM, 0)
    assert rec.errno == "EAFNOSUPPORT" and rec.note.startswith("denied")
    rec = sb.syscall("socket", AF_INET, SOCK_RAW, 1)
    assert rec.errno == "EPERM" and rec.note.startswith("denied")
    pair = bytearray(8)
    assert sb.syscall("socketpair", AF_UNIX, SOCK_STREAM, 0, pair).ret == 0
    a, b = struct.unpack("<ii", pair)
    assert sb.syscall("write", a, b"to b", 4).ret == 4
    buf = bytearray(8)
    assert sb.syscall("read", b, buf, 8).ret == 4 and bytes(buf[:4]) == b"to b"
