"""``python -m sidecar``: same as the ``sidecar`` console script."""

from .cli import main

raise SystemExit(main())
