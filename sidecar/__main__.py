"""``python -m sidecar``: same as the ``sidecar`` console script."""

from .cli import main

# Guarded: capture worker processes (spawn) import the main module and must not re-run the CLI.
if __name__ == "__main__":
    raise SystemExit(main())
