"""The host backend: each system call goes to the host, to the kernel model, or is refused,
as the policy says, and every refusal is written into the call's record.

The kernel model keeps the process whatever serves its calls: the descriptor table (a guest
descriptor maps to a host descriptor only when a host call opened one for it), the memory map,
brk, signals, identity and the working directory. The host answers the calls that are about
the outside world (files in the granted directories, clocks, randomness, the host's name), each
through a host handler registered in :mod:`kernel_model.host.registry`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

# Importing the handler modules registers the host's system calls.
from kernel_model.host import clocks as _clock_calls  # noqa: F401
from kernel_model.host import files as _file_calls  # noqa: F401
from kernel_model.host import network as _network_calls  # noqa: F401
from kernel_model.host import paths as _path_calls  # noqa: F401
from kernel_model.host import system as _system_calls  # noqa: F401
from kernel_model.host.denials import DenialLog
from kernel_model.host.policy import CallRule, Policy, PolicyError
from kernel_model.host.registry import HOST_REGISTRY
from kernel_model.fsnodes import host_errno
from kernel_model.linux_errno import Errno
from kernel_model.seam import GuestFault, KernelError, SyscallRequest

if TYPE_CHECKING:
    from kernel_model.kernel import Kernel

Route = Callable[[SyscallRequest], int]

# The calls that reach a network (or another process through a socket). They are refused
# unless the policy's [network] allow is true; nothing else ever opens a socket.
NETWORK_CALLS = frozenset({
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4", "sendto", "recvfrom", "sendmsg",
    "recvmsg", "sendmmsg", "recvmmsg", "shutdown", "getsockname", "getpeername", "setsockopt", "getsockopt",
    "socketcall",
})
NETWORK_RULE = "network.allow = false (the default: no network)"


def host_calls() -> list[str]:
    """Every system call the host backend can answer itself, sorted."""
    return sorted(HOST_REGISTRY)


def check_routes(policy: Policy) -> None:
    """PolicyError for a rule sending a call to the host that the host backend does not serve."""
    for name, rule in policy.calls.items():
        if rule.action == "host" and name not in HOST_REGISTRY:
            where = f"{rule.source} {name}" if rule.source.startswith("--") else f'{rule.source}: syscalls.{name} = "host"'
            raise PolicyError(
                f"{where}: {name} has no host implementation; the kernel model keeps it "
                f"(the host serves file, clock and machine calls: see the README's host table)"
            )


class HostBackend:
    """A :class:`kernel_model.seam.Backend` in front of a kernel model, behind a policy.

    ``mode`` is ``"host"`` (every call with a host handler goes to the host unless a rule says
    otherwise) or ``"model"`` (only the calls the rules send to the host go there).
    """

    def __init__(self, kernel: "Kernel", policy: Policy, mode: str, log: DenialLog) -> None:
        check_routes(policy)
        self.kernel = kernel
        self.memory = kernel.memory
        self.policy = policy
        self.mode = mode
        self.log = log
        self._host = {name: spec.invoker(kernel.arch.bits) for name, spec in HOST_REGISTRY.items()}
        self._routes: dict[str, Route] = {}

    # -- what serves each call -------------------------------------------------------------

    def route(self, name: str) -> Route:
        """The function that serves ``name`` under the policy (worked out once per name)."""
        route = self._routes.get(name)
        if route is None:
            route = self._routes[name] = self._make_route(name)
        return route

    def served_by(self, name: str) -> str:
        """``"host"``, ``"model"`` or ``"deny"``: who answers ``name``."""
        route = self.route(name)
        return getattr(route, "served_by", "model")

    def _make_route(self, name: str) -> Route:
        network = name in NETWORK_CALLS
        if network and not self.policy.network:
            return self._refusal(Errno.EACCES, NETWORK_RULE)
        rule = self.policy.call_rule(name)
        if rule.action == "deny":
            assert rule.errno is not None
            return self._refusal(rule.errno, rule.describe())
        # The model has no network: an allowed socket call is the host's in either mode.
        wants_host = rule.action == "host" or (rule.action == "allow" and (self.mode == "host" or network))
        invoker = self._host.get(name)
        if wants_host and invoker is not None:
            def host(req: SyscallRequest, invoke=invoker) -> int:
                return invoke(self, req, req.args)

            host.served_by = "host"  # type: ignore[attr-defined]
            return host
        return self.kernel.dispatch

    def _refusal(self, errno: Errno, rule: str) -> Route:
        log = self.log

        def refuse(req: SyscallRequest) -> int:
            raise log.deny(errno, req.name, rule)

        refuse.served_by = "deny"  # type: ignore[attr-defined]
        return refuse

    # -- the backend entry point -----------------------------------------------------------

    def dispatch(self, request: SyscallRequest) -> int:
        """Serve one call as the policy says; a refusal's rule goes into ``request.note``."""
        route = self._routes.get(request.name) or self.route(request.name)
        log = self.log
        log.begin()
        try:
            value = route(request)
        except GuestFault:
            self._annotate(request, Errno.EFAULT)
            raise KernelError(Errno.EFAULT) from None
        except OSError as e:
            # A host call no handler wrapped still fails as the guest's errno, not the sandbox.
            errno = host_errno(e)
            self._annotate(request, errno)
            raise KernelError(errno, str(e)) from None
        except KernelError as e:
            self._annotate(request, e.errno)
            raise
        except BaseException:
            self._annotate(request, None)
            raise
        if log.entries:
            self._annotate(request, None)
        return value

    def _annotate(self, request: SyscallRequest, errno: Errno | None) -> None:
        note = self.log.note(errno)
        if note:
            request.note = note if request.note is None else f"{request.note}; {note}"

    # -- for host handlers -----------------------------------------------------------------

    def model(self, request: SyscallRequest) -> int:
        """Let the kernel model serve ``request`` (an object of its own: a pipe, /proc, /dev...)."""
        return self.kernel.dispatch(request)

    def rule_for(self, name: str) -> CallRule:
        """The policy's rule for ``name``."""
        return self.policy.call_rule(name)
