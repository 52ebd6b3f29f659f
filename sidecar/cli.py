"""Command-line entry point: parse arguments, hand off to the command's module (entry points only)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__
from .errors import ConfigError, SidecarError

# command → (module, help). Each module exposes configure(parser) and run(args) -> int.
_COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("sidecar.app", "run the sidecar in front of a model server"),
    "demo": ("sidecar.demo", "one-command demo: toy models, the sidecar, traffic and a live view"),
    "profile": ("sidecar.profile_cli", "build a reference profile from training data (csv, parquet, jsonl)"),
    "report": ("sidecar.report", "drift and quality report: terminal table or self-contained HTML"),
    "inject": ("sidecar.k8s.cli", "add the sidecar to Kubernetes manifests"),
    "webhook": ("sidecar.k8s.cli", "serve the mutating admission webhook"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The CLI parser; with ``only``, just that command's module is imported and configured (the
    others' modules — pyarrow, kubernetes schemas, rich — stay out of ``sidecar run``'s memory)."""
    parser = argparse.ArgumentParser(prog="sidecar", description="model-sidecar: watch ML models in production")
    parser.add_argument("--version", action="version", version=f"model-sidecar {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in _COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        command_parser.set_defaults(_module=module_name)
        if only is None or only == name:
            module = importlib.import_module(module_name)
            configure = getattr(module, f"configure_{name}", None) or module.configure
            configure(command_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(chosen if chosen in _COMMANDS else None)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    module = importlib.import_module(args._module)
    runner = getattr(module, f"run_{args.command}", None) or module.run
    try:
        return int(runner(args) or 0)
    except ConfigError as exc:
        print(f"sidecar {args.command}: invalid setting {exc}", file=sys.stderr)
        return 2
    except SidecarError as exc:
        print(f"sidecar {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
