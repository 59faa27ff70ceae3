"""The policy: which system calls are served, by whom, and which host paths the guest may reach.

A policy is a TOML file (see the README's "Running against the real host")::

    kernel = "host"                       # model | host (the command line's --kernel wins)

    [paths]                               # guest path prefix -> ro | rw | hidden | tmpfs
    "." = "ro"                            # relative paths are relative to the current directory
    "out" = "rw"
    "out/keys" = "hidden"
    "/lib" = { host = "/usr/aarch64-linux-gnu/lib", access = "ro" }   # shown somewhere else

    [syscalls]                            # name -> allow | deny[=ERRNO] | model | host
    default = "allow"
    clock_gettime = "model"
    getrandom = "deny=ENOSYS"

    [stdio]                               # which of the sandbox's own streams the guest gets
    stdin = true

    [network]
    allow = false

Validation is done here, against a small schema, with one-line errors that name the file, the
key and what was expected. Every rule remembers where it came from (the file, a command-line
flag, or the default), so a denial can say which rule refused it.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Iterable

from kernel_model.linux_errno import Errno

ACCESS = ("ro", "rw", "hidden", "tmpfs")
ACTIONS = ("allow", "deny", "model", "host")
STREAMS = ("stdin", "stdout", "stderr")
KERNELS = ("model", "host")
DEFAULT_DENY_ERRNO = Errno.EPERM


class PolicyError(ValueError):
    """A policy that cannot be used, said in one line (``file: key: what is wrong``)."""


@dataclass(frozen=True)
class PathRule:
    """What the guest may do under one guest path prefix.

    ``access`` is ``ro``/``rw`` (a host directory shown there), ``hidden`` (nothing there
    exists for the guest) or ``tmpfs`` (an empty in-memory directory, gone at exit). ``host`` is
    the host directory shown (``None``: the same path on the host).
    """

    guest: str
    access: str
    host: str | None = None
    source: str = "default"

    @property
    def host_path(self) -> str:
        """The host directory this rule shows (resolved), for ``ro``/``rw``."""
        return os.path.realpath(self.host or self.guest)

    def describe(self) -> str:
        """The rule as it would be written in a policy file, and where it came from."""
        value = f'"{self.access}"' if self.host is None else f'{{ host = "{self.host}", access = "{self.access}" }}'
        return f'paths."{self.guest}" = {value} ({self.source})'


@dataclass(frozen=True)
class CallRule:
    """What happens to one system call: ``allow``, ``deny`` (with ``errno``), ``model`` or ``host``."""

    name: str
    action: str
    errno: Errno | None = None
    source: str = "default"

    def describe(self) -> str:
        """The rule as written, and where it came from."""
        value = self.action + (f"={self.errno.name}" if self.action == "deny" and self.errno else "")
        return f'syscalls.{self.name} = "{value}" ({self.source})'


@dataclass(frozen=True)
class Policy:
    """A whole policy. Build one with :func:`load_policy`, :func:`policy_from_dict` or
    :func:`default_policy`, and widen it with :meth:`with_paths` / :meth:`with_calls`."""

    paths: tuple[PathRule, ...] = ()
    calls: dict[str, CallRule] = field(default_factory=dict)
    default_call: CallRule = CallRule("default", "allow")
    stdio: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(STREAMS, True))
    network: bool = False
    kernel: str | None = None
    source: str = "default"

    def call_rule(self, name: str) -> CallRule:
        """The rule for the system call ``name`` (its own, else ``default``)."""
        return self.calls.get(name, self.default_call)

    def path_rules(self) -> list[PathRule]:
        """The path rules, one per guest path (a later rule for the same path wins), shortest first."""
        merged: dict[str, PathRule] = {}
        for rule in self.paths:
            merged[rule.guest] = rule
        return sorted(merged.values(), key=lambda r: (r.guest.count("/") if r.guest != "/" else 0, r.guest))

    def with_paths(self, rules: Iterable[PathRule]) -> "Policy":
        """This policy with more path rules (they win over the policy's own for the same path)."""
        return replace(self, paths=self.paths + tuple(rules))

    def with_calls(self, rules: Iterable[CallRule]) -> "Policy":
        """This policy with more call rules (they replace the policy's own for the same call)."""
        calls = dict(self.calls)
        default = self.default_call
        for rule in rules:
            if rule.name == "default":
                default = rule
            else:
                calls[rule.name] = rule
        return replace(self, calls=calls, default_call=default)


# -- parsing values ------------------------------------------------------------------------


@lru_cache(maxsize=None)
def known_syscall_names() -> frozenset[str]:
    """Every system call name of the kernel's tables (any arch), to catch misspellings."""
    import system_calls

    return frozenset(system_calls.syscalls().names())


def parse_action(text: str, name: str, source: str) -> CallRule:
    """``allow``, ``deny``, ``deny=ERRNO``, ``model`` or ``host`` as a :class:`CallRule`."""
    action, sep, errno_name = text.partition("=")
    action = action.strip()
    if action not in ACTIONS or (sep and action != "deny"):
        raise PolicyError(f'"{text}" is not one of allow, deny, deny=ERRNO, model, host')
    errno = None
    if action == "deny":
        errno = DEFAULT_DENY_ERRNO
        if sep:
            errno_name = errno_name.strip().upper()
            try:
                errno = Errno[errno_name]
            except KeyError:
                hint = _did_you_mean(errno_name, [e.name for e in Errno])
                raise PolicyError(f'"{text}": {errno_name or "(nothing)"} is not a Linux errno name{hint}') from None
    return CallRule(name, action, errno, source)


def check_call_name(name: str) -> None:
    """PolicyError unless ``name`` is a system call of the kernel's tables (or ``default``)."""
    if name != "default" and name not in known_syscall_names():
        raise PolicyError(f"{name} is not a system call{_did_you_mean(name, known_syscall_names())}")


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def guest_path(text: str, cwd: str) -> str:
    """A path as written in a rule, as an absolute, normalised guest path."""
    if not text:
        raise PolicyError("an empty path")
    if "\0" in text:
        raise PolicyError("a path with a NUL byte")
    path = os.path.normpath(os.path.join(cwd, text))
    return "/" + path.lstrip("/") if path.startswith("//") else path


def path_rule(key: str, value: Any, source: str, cwd: str) -> PathRule:
    """One ``[paths]`` entry (a string, or a table with ``access`` and ``host``) as a PathRule."""
    guest = guest_path(key, cwd)
    host = None
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"access", "host"})
        if unknown:
            raise PolicyError(f"unknown key {unknown[0]!r} (a path table has access and host)")
        if "access" not in value:
            raise PolicyError("a path table needs access = ro | rw | hidden | tmpfs")
        host_text = value.get("host")
        if host_text is not None:
            if not isinstance(host_text, str) or not host_text:
                raise PolicyError("host must be a directory name")
            host = os.path.normpath(os.path.join(cwd, host_text))
        value = value["access"]
    if not isinstance(value, str) or value not in ACCESS:
        raise PolicyError(f"{value!r} is not one of ro, rw, hidden, tmpfs")
    if host is not None and value not in ("ro", "rw"):
        raise PolicyError(f"host only goes with ro or rw, not {value}")
    rule = PathRule(guest, value, host, source)
    check_path_rule(rule)
    return rule


def check_path_rule(rule: PathRule) -> None:
    """PolicyError for a rule that cannot be set up (a missing directory, the guest's /proc)."""
    if rule.guest == "/proc" or rule.guest.startswith("/proc/"):
        if rule.access != "hidden":
            raise PolicyError(f"{rule.guest}: /proc is the guest's own (it describes the guest, not the host)")
    if rule.access in ("ro", "rw"):
        host = rule.host_path
        if not os.path.isdir(host):
            what = "does not exist" if not os.path.exists(host) else "is not a directory"
            raise PolicyError(f"{rule.host or rule.guest} {what} (a grant must be a host directory)")


# -- the schema ----------------------------------------------------------------------------

_TOP_KEYS = {"kernel": str, "paths": dict, "syscalls": dict, "stdio": dict, "network": dict}


def policy_from_dict(data: dict[str, Any], source: str = "policy", cwd: str | None = None) -> Policy:
    """Validate a parsed policy (the TOML's tables) and build the :class:`Policy`.

    Errors are :class:`PolicyError` with one line: ``SOURCE: KEY: what is wrong``.
    """
    cwd = cwd or os.getcwd()

    def fail(key: str, message: str) -> PolicyError:
        return PolicyError(f"{source}: {key}: {message}")

    for key, value in data.items():
        expected = _TOP_KEYS.get(key)
        if expected is None:
            hint = _did_you_mean(key, _TOP_KEYS)
            raise fail(key, f"unknown key (a policy has kernel, [paths], [syscalls], [stdio], [network]){hint}")
        if not isinstance(value, expected):
            kind = "a table" if expected is dict else "a string"
            raise fail(key, f"must be {kind}")
    kernel = data.get("kernel")
    if kernel is not None and kernel not in KERNELS:
        raise fail("kernel", f"{kernel!r} is not model or host")
    paths = []
    for key, value in data.get("paths", {}).items():
        try:
            paths.append(path_rule(key, value, source, cwd))
        except PolicyError as e:
            raise fail(f'paths."{key}"', str(e)) from None
    calls: dict[str, CallRule] = {}
    default = CallRule("default", "allow")
    for name, value in data.get("syscalls", {}).items():
        key = f"syscalls.{name}"
        if not isinstance(value, str):
            raise fail(key, "must be a string: allow, deny, deny=ERRNO, model or host")
        try:
            check_call_name(name)
            rule = parse_action(value, name, source)
        except PolicyError as e:
            raise fail(key, str(e)) from None
        if name == "default":
            default = rule
        else:
            calls[name] = rule
    stdio = dict.fromkeys(STREAMS, True)
    for name, value in data.get("stdio", {}).items():
        if name not in STREAMS:
            raise fail(f"stdio.{name}", "unknown stream (stdin, stdout, stderr)")
        if not isinstance(value, bool):
            raise fail(f"stdio.{name}", "must be true or false")
        stdio[name] = value
    network = False
    for name, value in data.get("network", {}).items():
        if name != "allow":
            raise fail(f"network.{name}", "unknown key (network has allow)")
        if not isinstance(value, bool):
            raise fail("network.allow", "must be true or false")
        network = value
    return Policy(tuple(paths), calls, default, stdio, network, kernel, source)


def load_policy(path: str, cwd: str | None = None) -> Policy:
    """Read and validate a TOML policy file; :class:`PolicyError` (one line) when it is unusable."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    name = os.path.basename(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise PolicyError(f"{path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(f"{name}: not valid TOML: {e}") from None
    return policy_from_dict(data, name, cwd)


def default_policy(cwd: str | None = None, *, tmp: bool = False) -> Policy:
    """What a run grants without a policy file: the current directory read-only, and stdio.

    ``tmp`` adds an in-memory ``/tmp`` (the kernel model's default; host mode has none).
    """
    cwd = os.path.realpath(cwd or os.getcwd())
    rules = [PathRule(cwd, "ro", None, "default: the current directory")]
    if tmp:
        rules.append(PathRule("/tmp", "tmpfs", None, "default: the model's /tmp"))
    return Policy(paths=tuple(rules))


def flag_path_rules(dirs: Iterable[str], access: str, flag: str, cwd: str | None = None) -> list[PathRule]:
    """Path rules from ``--allow-read``/``--allow-write`` (PolicyError names the flag)."""
    cwd = cwd or os.getcwd()
    out = []
    for text in dirs:
        try:
            out.append(path_rule(text, access, flag, cwd))
        except PolicyError as e:
            raise PolicyError(f"{flag} {text}: {e}") from None
    return out


def flag_call_rules(specs: Iterable[str], action: str, flag: str) -> list[CallRule]:
    """Call rules from ``--deny NAME[=ERRNO]`` or ``--forward NAME`` (comma-separated lists too)."""
    out = []
    for spec in specs:
        for item in spec.split(","):
            item = item.strip()
            if not item:
                continue
            name, sep, errno_name = item.partition("=")
            try:
                check_call_name(name)
                if sep and action != "deny":
                    raise PolicyError(f"{flag} takes names only")
                out.append(parse_action(action + (f"={errno_name}" if sep else ""), name, flag))
            except PolicyError as e:
                raise PolicyError(f"{flag} {item}: {e}") from None
    return out
