"""After the conformance checks, say per arch and kernel mode how many agree with qemu-user."""

from __future__ import annotations

import sys


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ANN001, ANN201 - a pytest hook
    module = sys.modules.get("test_conformance")
    if module is None or not module._RUNS:
        return
    terminalreporter.section("ABI conformance against qemu-user")
    for key, run in module._RUNS.items():
        arch = key.split("/")[0]
        mode = "host mode" if key.endswith("/host") else "model"
        checks = run.program.checks
        if run.qemu is None:
            terminalreporter.write_line(f"{arch:8} {mode:9} {len(checks)} checks; {module.QEMU[arch]} is not installed")
            continue
        linux = [(i, c) for i, c in enumerate(checks) if c.qemu_is_linux_on(run.program.arch)]
        agree = sum(module.agrees_with_qemu(run, i, c)[0] for i, c in linux)
        terminalreporter.write_line(
            f"{arch:8} {mode:9} {agree} of {len(linux)} checks agree with {module.QEMU[arch]}"
            f" ({len(checks) - len(linux)} more where qemu-user is not Linux)"
        )
