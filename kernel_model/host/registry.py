"""The host backend's handlers, registered by ABI name like the kernel model's.

A host handler is declared exactly as a model handler is (``@host_syscall("openat")`` on a
function whose parameters carry argument kinds: ``dirfd: DirFd, pathname: Path``), with the
same parameter names as the model's handler and the prototype table, so the decoding of raw
registers is shared and a record reads the same whichever backend answered. It is called as
``func(backend, request, *decoded_args)``.
"""

from __future__ import annotations

from typing import Callable

from kernel_model.registry import HandlerSpec, syscall

HOST_REGISTRY: dict[str, HandlerSpec] = {}


def host_syscall(name: str, *, partial: str | None = None) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Register the host backend's handler for ``name`` (``partial`` says what it leaves out)."""
    return syscall(name, partial=partial, registry=HOST_REGISTRY)
