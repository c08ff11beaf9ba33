"""``python -m energy``: the same command as ``qhybrid energy`` (see :mod:`energy.cli`)."""

from __future__ import annotations

import argparse
import logging
import sys

from energy.cli import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the energy command."""
    parser = argparse.ArgumentParser(
        prog="python -m energy",
        description="Energy per inference: statevector simulation versus a QPU, "
        "and the cross-over qubit count.",
    )
    add_arguments(parser)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
