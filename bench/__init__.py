"""qhybrid's simulator-throughput benchmark (``qhybrid bench`` / ``python -m bench``).

Workloads (:mod:`bench.workloads`) are run by qhybrid and by every installed peer simulator
(:mod:`bench.adapters`), each configuration in its own subprocess with its thread settings fixed
before import (:mod:`bench.harness`, :mod:`bench.worker`).  Every output is checked against a
reference before any time is recorded (:mod:`bench.agreement`).  Results are one JSON document,
schema ``qhybrid.bench/1`` (:mod:`bench.schema`, described in ``bench/schema.md``), a Markdown
table and plots (:mod:`bench.report`).  ``bench/suite`` holds the same workloads as a
pytest-benchmark suite: ``pytest bench/suite -m benchmark --benchmark-enable``.

Quick look::

    python -m bench --quick --out bench-results     # about a minute
    python -m bench --list                          # workloads and simulators found here
"""
