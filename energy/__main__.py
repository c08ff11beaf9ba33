"""``python -m energy``: the same command as ``qhybrid energy`` (see :mod:`energy.cli`)."""

from energy.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
