"""What reaches the real host, under the kernel model: host directories, host sockets, the wall.

Every system call is the kernel model's; the host is reached below it. A host directory tree is
a filesystem (:mod:`kernel_model.host.tree`), a host socket a file kind
(:mod:`kernel_model.host.network`), and in ``--kernel host`` mode the process that makes these
host calls is confined by the host kernel to exactly what the policy grants
(:mod:`kernel_model.host.landlock`). A policy (:mod:`kernel_model.policy`) says what the guest's
world holds; :mod:`kernel_model.world` builds it. See the README's "Running against the real
host".

The names here are the policy API, kept where the README has always said they are.
"""

from kernel_model.policy import CallRule, PathRule, Policy, PolicyError, default_policy, load_policy, policy_from_dict
from kernel_model.world import World, build_world, run_policy

__all__ = [
    "CallRule", "PathRule", "Policy", "PolicyError", "World", "build_world", "default_policy", "load_policy",
    "policy_from_dict", "run_policy",
]
