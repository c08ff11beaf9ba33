"""The benchmark workloads as a pytest-benchmark suite (regression tracking).

Run with ``pytest bench/suite -m benchmark --benchmark-enable`` (outside the default test run);
compare runs with ``--benchmark-autosave`` / ``--benchmark-compare``.
"""
