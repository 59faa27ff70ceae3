"""Host mode's second wall, on the sandbox's side: confining the process that makes host calls.

The kernel model's checks are the first wall around the host. In ``--kernel host`` mode the
process that makes the host calls is also confined by the host kernel
(:mod:`kernel_model.host.landlock`) before the first guest instruction:

- the command line confines its own process (it runs one guest and ends);
- the Python API runs a host-mode guest in a child process made with ``fork`` that confines
  itself, runs the guest, and sends the :class:`~sandbox.api.RunResult` back, so that the
  caller's process (a test suite, say) is never confined.

``SANDBOX_TEST_KERNEL_WALL_ONLY=1`` (for the escape tests only) turns the first wall off: the
guest's world is then the host's whole tree, writable, and the kernel wall alone must hold.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
from typing import TYPE_CHECKING, Callable

from sandbox.errors import SandboxError

if TYPE_CHECKING:
    from kernel_model.host.landlock import WallReport
    from sandbox.api import RunResult, Sandbox

TEST_ONLY_SWITCH = "SANDBOX_TEST_KERNEL_WALL_ONLY"


def first_wall_off() -> bool:
    """Whether the test-only switch turned the kernel model's own checks off."""
    return os.environ.get(TEST_ONLY_SWITCH) == "1"


def confine_process(sb: "Sandbox", *, require: bool = False) -> "WallReport":
    """Confine this process to ``sb``'s policy; SandboxError (one line) if it cannot be as asked."""
    from kernel_model.host.landlock import WallError, confine, wall_for

    def reopen() -> None:
        # The grants the world opened before the mount namespace see the old mounts.
        machine = sb.machine
        if machine is not None:
            for _, fs in machine.kernel.ns.mounts():
                reopen_fs = getattr(fs, "reopen", None)
                if reopen_fs is not None:
                    reopen_fs()

    _load_what_threads_need()
    try:
        return confine(wall_for(sb.run_policy()), require=require, after_mounts=reopen)
    except (WallError, ValueError) as e:
        raise SandboxError(str(e)) from None


def _load_what_threads_need() -> None:
    """Load libgcc_s before the wall goes up: glibc loads it the first time a thread ends
    (pthread_exit unwinds the thread's stack with it), and behind the wall it can no longer
    be read, so the first thread of the sandbox's own to end (a watchdog's, a timer's) would
    abort the whole process ("libgcc_s.so.1 must be installed for pthread_exit to work")."""
    import ctypes

    for name in ("libgcc_s.so.1", "libgcc_s.so"):
        try:
            ctypes.CDLL(name)
            return
        except OSError:
            continue


def run_in_confined_child(sb: "Sandbox", run: Callable[[], "RunResult"]) -> "RunResult":
    """Run ``run`` (the guest's run) in a forked child confined to ``sb``'s policy.

    The child sends back the result or the one-line error it met; a Ctrl-C in the parent
    ends the child too.
    """
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: confine, run, report, and leave without running the parent's code
        os.close(read_end)
        status = 0
        try:
            report = confine_process(sb, require=sb.require_landlock)
            result = run()
            payload: tuple = ("result", result, report)  # the raw log: records are built by the reader
        except SandboxError as e:
            payload = ("error", str(e), None)
        except BaseException as e:  # noqa: BLE001 - any end of the child is reported, never lost
            import traceback

            where = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
            at = f" (at {os.path.basename(where.filename)}:{where.lineno})" if where is not None else ""
            payload = ("crash", f"{type(e).__name__}: {e}{at}", None)
            status = 70
        try:
            try:
                data = pickle.dumps(payload)
            except Exception as e:  # noqa: BLE001 - said to the parent, as any other end
                data, status = pickle.dumps(("crash", f"the result could not be sent: {e}", None)), 70
            with os.fdopen(write_end, "wb") as out:
                out.write(data)
        finally:
            os._exit(status)
    os.close(write_end)
    chunks = []
    try:
        with os.fdopen(read_end, "rb") as inp:
            while True:
                chunk = inp.read(1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
        os.waitpid(pid, 0)
    except BaseException:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass
        raise
    if not chunks:
        raise SandboxError("the confined process ended without a result")
    kind, value, report = pickle.loads(b"".join(chunks))
    if kind == "error":
        raise SandboxError(value)
    if kind == "crash":
        raise SandboxError(f"internal error in the confined process: {value}")
    sb.wall_report = report
    return value

