"""Linux signal numbers and names (the generic numbering of x86, arm, riscv).

Only the table lives here for now: the guest has one thread and no handlers run yet, so a
signal the kernel would deliver ends the process with status 128 + its number.
"""

from __future__ import annotations

SIGNALS: dict[str, int] = {
    "SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5, "SIGABRT": 6, "SIGBUS": 7,
    "SIGFPE": 8, "SIGKILL": 9, "SIGUSR1": 10, "SIGSEGV": 11, "SIGUSR2": 12, "SIGPIPE": 13,
    "SIGALRM": 14, "SIGTERM": 15, "SIGSTKFLT": 16, "SIGCHLD": 17, "SIGCONT": 18, "SIGSTOP": 19,
    "SIGTSTP": 20, "SIGTTIN": 21, "SIGTTOU": 22, "SIGURG": 23, "SIGXCPU": 24, "SIGXFSZ": 25,
    "SIGVTALRM": 26, "SIGPROF": 27, "SIGWINCH": 28, "SIGIO": 29, "SIGPWR": 30, "SIGSYS": 31,
}
SIGNAL_NAMES: dict[int, str] = {n: name for name, n in SIGNALS.items()}

# What strsignal() says, as a shell prints it for a killed job.
DESCRIPTIONS: dict[str, str] = {
    "SIGHUP": "Hangup", "SIGINT": "Interrupt", "SIGQUIT": "Quit", "SIGILL": "Illegal instruction",
    "SIGTRAP": "Trace/breakpoint trap", "SIGABRT": "Aborted", "SIGBUS": "Bus error",
    "SIGFPE": "Floating point exception", "SIGKILL": "Killed", "SIGUSR1": "User defined signal 1",
    "SIGSEGV": "Segmentation fault", "SIGUSR2": "User defined signal 2", "SIGPIPE": "Broken pipe",
    "SIGALRM": "Alarm clock", "SIGTERM": "Terminated", "SIGXCPU": "CPU time limit exceeded",
    "SIGXFSZ": "File size limit exceeded", "SIGSYS": "Bad system call",
}


def signal_number(name: str) -> int:
    """The number of a signal by name (``"SIGSEGV"`` -> 11)."""
    return SIGNALS[name]


def signal_name(number: int) -> str:
    """The name of a signal number (``11`` -> ``"SIGSEGV"``), or ``SIG<n>`` for others."""
    return SIGNAL_NAMES.get(number, f"SIG{number}")
