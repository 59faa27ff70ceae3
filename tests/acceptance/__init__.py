"""Acceptance: real programs run under the sandbox and under qemu-user, compared byte for byte.

``corpus.py`` is the table of cases, ``runner.py`` runs one case both ways and compares,
``test_acceptance.py`` makes each case a test (cases that fail today are strict xfails naming
what is missing), and ``report.py`` prints the whole table with the first difference of each.
"""
