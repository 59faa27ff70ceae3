"""The host backend: system calls served by the real host, behind a policy.

``sandbox run --kernel host`` serves the guest's file, clock and machine calls with the host's
own system calls, in the directories the policy grants and nowhere else; the kernel model keeps
the process (its descriptor table, memory, signals, identity). See the README's "Running against
the real host" for the policy format and what is guaranteed.
"""

from kernel_model.host.backend import NETWORK_CALLS, HostBackend, host_calls
from kernel_model.host.policy import CallRule, PathRule, Policy, PolicyError, default_policy, load_policy, policy_from_dict
from kernel_model.host.world import World, build_world, confine, run_policy

__all__ = [
    "NETWORK_CALLS", "CallRule", "HostBackend", "PathRule", "Policy", "PolicyError", "World", "build_world",
    "confine", "default_policy", "host_calls", "load_policy", "policy_from_dict", "run_policy",
]
