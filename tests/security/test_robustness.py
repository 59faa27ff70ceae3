"""A host-mode kernel never crashes the sandbox: every call that takes a path or a descriptor,
with any registers and any memory, answers with a value or a Linux errno, and still reaches
nothing outside the grant."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakes import AARCH64, X86_64, FakeMemory
from kernel_model.host import build_world, policy_from_dict
from kernel_model.kernel import Kernel, KernelConfig
from kernel_model.registry import REGISTRY
from kernel_model.seam import PROT_READ, PROT_WRITE, KernelError, ProcessExit, SyscallRequest
from kernel_model.signals import SignalDelivery
from sandbox.arch import get_arch
from sandbox.arch.syscalls import syscall_table

SCRATCH = 0x10000000
AT_FDCWD = 2**64 - 100
STRINGS = [b"file.txt", b"../outside/secret.txt", b"/etc/passwd", b"link-out", b"sub", b"", b"dir-link/x", b"/proc/self/fd/0",
           b"new-name", b"sub/inner.txt"]
# Every call that names a path or a descriptor: what could reach a host file. Those that end or
# replace the process are left out, and so are waits (a random timeout is years, as on Linux).
_LEAVE_OUT = {"exit", "exit_group", "rt_sigreturn", "sigreturn", "pause", "rt_sigsuspend", "sigsuspend", "wait4", "waitid"}
CALLS = sorted(
    name for name, spec in REGISTRY.items()
    if name not in _LEAVE_OUT and any(kind.name in ("path", "fd", "dirfd") for _, kind in spec.params)
    and "poll" not in name and "select" not in name and "sleep" not in name
)


def host_kernel(arena):
    memory = FakeMemory()
    arch = {"x86_64": X86_64, "aarch64": AARCH64}[arena.arch]
    policy = policy_from_dict({"paths": {str(arena.granted): "rw"}})
    world = build_world(policy, "host")
    config = KernelConfig(cwd=str(arena.granted), world=world)
    kernel = Kernel(arch, memory, config, mmap_top=0x7FFFF7FFF000, task_size=0x7FFFFFFFF000)
    kernel.mm.map(SCRATCH, 0x10000, PROT_READ | PROT_WRITE, name="scratch")
    addresses = []
    at = SCRATCH
    for text in STRINGS:
        memory.write(at, text + b"\0")
        addresses.append(at)
        at += 256
    backend = kernel
    for name in (b"file.txt", b"sub"):  # descriptors 3 and 4 to aim at: a file and a directory
        backend.dispatch(SyscallRequest(arena.arch, 0, "openat", (AT_FDCWD, addresses[STRINGS.index(name)], 0, 0, 0, 0), memory))
    return kernel, backend, memory, addresses


def test_every_host_call_answers_with_a_value_or_an_errno(arena):
    kernel, backend, memory, addresses = host_kernel(arena)
    values = st.one_of(
        st.sampled_from(addresses), st.sampled_from([0, 1, 2, 3, 4, 5, 2**64 - 100, 2**64 - 1, 2**63, 0x41, 0x100, 0o777]),
        st.integers(min_value=0, max_value=2**64 - 1), st.integers(min_value=SCRATCH, max_value=SCRATCH + 0x10000),
    )

    table = syscall_table(get_arch(arena.arch))
    calls = [name for name in CALLS if table.number(name) is not None]

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(name=st.sampled_from(calls), args=st.tuples(values, values, values, values, values, values))
    def one_call(name, args):
        req = SyscallRequest(arena.arch, 0, name, args, memory)
        try:
            value = backend.dispatch(req)
        except KernelError as e:
            outcomes.add(e.errno.name)
            return
        except (ProcessExit, SignalDelivery) as e:
            outcomes.add(type(e).__name__)
            return
        outcomes.add("ok")
        assert isinstance(value, int)

    outcomes: set[str] = set()
    try:
        one_call()
    finally:
        kernel.close()
    assert os.path.isdir(arena.granted)
    assert {"ok", "EBADF", "EFAULT", "EINVAL", "ENOENT"} <= outcomes, outcomes
