"""``python -m bench``: the simulator-throughput benchmark (same as ``qhybrid bench``)."""

from .cli import main

raise SystemExit(main())
