#!/usr/bin/env python3
"""Run the acceptance corpus (all of it, or a subset) and print one line per case.

    python tests/acceptance/report.py                 # every case, two at a time
    python tests/acceptance/report.py --default       # only the cases the test suite runs
    python tests/acceptance/report.py --group busybox --arch aarch64 -k tar -j 1

Each line: the case, the sandbox's result, the oracle's, the seconds each took, and
``match`` or the first difference. The last column says whether that was expected: ``xfail`` (it differs and the
corpus says why), ``XPASS`` (it matches although the corpus says a feature is missing: time
to update MISSING in corpus.py) or ``FAIL`` (it differs and the corpus does not expect it).
The summary line at the end is the number to quote: ``N of M match``.
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from acceptance.corpus import CASES, FEATURES, select  # noqa: E402
from acceptance import runner  # noqa: E402
from acceptance.runner import Outcome, namespace_problem, run_case, unavailable  # noqa: E402


def verdict(outcome: Outcome) -> str:
    """xfail, XPASS, FAIL or ok: the outcome against what the corpus expects."""
    expected_to_fail = outcome.case.xfail_reason is not None
    if outcome.difference is None:
        return "XPASS" if expected_to_fail else "ok"
    return "xfail" if expected_to_fail else "FAIL"


def main(argv: list[str] | None = None) -> int:
    """Run the chosen cases and print the table; exit 1 if any FAIL or XPASS."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--default", action="store_true", help="only the default tier (what pytest runs)")
    parser.add_argument("--group", action="append", help="busybox, bash, zsh, sash, rootfs, features, go, rust")
    parser.add_argument("--arch", action="append", help="x86_64, aarch64, i386, arm, riscv64")
    parser.add_argument("-k", dest="words", action="append", help="only cases whose id contains this")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="cases run at once (default 2)")
    parser.add_argument("--repeats", type=int, default=10, help="runs of a racy case with one seed (default 10)")
    parser.add_argument("--why", action="store_true", help="also print each expected failure's reason")
    parser.add_argument("--kernel", choices=("model", "host"), default="model",
                        help="the sandbox's kernel (host: the real host behind the default policy)")
    args = parser.parse_args(argv)
    if args.kernel == "host":
        runner.EXTRA_OPTIONS[:] = ["--kernel", "host"]

    cases = select("default" if args.default else "all", set(args.group or []) or None, set(args.arch or []) or None, args.words)
    if not cases:
        print(f"no case matches (the corpus has {len(CASES)})", file=sys.stderr)
        return 2
    runnable, skipped = [], []
    for case in cases:
        reason = unavailable(case)
        (skipped if reason else runnable).append((case, reason))
    if namespace_problem():
        print(f"note: qemu-user runs without its namespace ({namespace_problem()})", file=sys.stderr)

    width = max(len(c.id) for c in cases)
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        outcomes = pool.map(lambda pair: run_case(pair[0], args.repeats), runnable)
        counts = {"ok": 0, "xfail": 0, "XPASS": 0, "FAIL": 0}
        blocked: dict[str, list[int]] = {}  # feature: [cases that differ and need it, of which need only it]
        for outcome in outcomes:
            v = verdict(outcome)
            counts[v] += 1
            if v == "xfail":
                keys = outcome.case.missing_keys + (["bug"] if outcome.case.bug else [])
                for key in keys:
                    tally = blocked.setdefault(key, [0, 0])
                    tally[0] += 1
                    tally[1] += len(keys) == 1
            theirs = outcome.oracle.summary() if outcome.oracle else "-"
            shown = "match" if outcome.difference is None else outcome.difference
            seconds = f"{outcome.sandbox.seconds:5.1f}s {outcome.oracle.seconds if outcome.oracle else 0:5.1f}s"
            print(f"{outcome.case.id:<{width}}  {outcome.sandbox.summary()[:28]:<28}  {outcome.oracle_name}: {theirs[:24]:<24}  "
                  f"{seconds}  {v:<5}  {shown}")
            if args.why and outcome.case.xfail_reason and v == "xfail":
                print(f"{'':<{width}}  expected: {outcome.case.xfail_reason}")
            sys.stdout.flush()
    for case, reason in skipped:
        print(f"{case.id:<{width}}  skipped: {reason}")
    if blocked:
        print("\nexpected failures by what they need (a case can need several; 'alone': nothing else):")
        for key, (count, alone) in sorted(blocked.items(), key=lambda kv: -kv[1][0]):
            print(f"  {key:<16} {count:4} cases, {alone:4} alone   {FEATURES.get(key, 'a bug of its own (see corpus.py)')}")
    ran = len(runnable)
    matched = counts["ok"] + counts["XPASS"]
    print(f"\n{matched} of {ran} match ({counts['xfail']} expected failures, {counts['XPASS']} XPASS, "
          f"{counts['FAIL']} unexpected failures; {len(skipped)} skipped)")
    return 1 if counts["FAIL"] or counts["XPASS"] else 0


if __name__ == "__main__":
    sys.exit(main())
