"""``sidecar inject`` and ``sidecar webhook``: arguments in, files and stdout/stderr out (entry points only)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from ..config import parse_host_port
from ..errors import ConfigError, ManifestError
from .container import DEFAULT_IMAGE
from .inject import InjectOptions, inject, uninject
from .manifests import dump_documents, load_documents
from .webhook import WebhookSettings, serve


def configure_inject(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--filename", required=True, metavar="FILE", help="manifests to read ('-' for stdin)")
    parser.add_argument("--uninject", action="store_true", help="remove the sidecar instead of adding it")
    parser.add_argument(
        "--classic", action="store_true", help="classic sidecar (first container) for clusters before 1.29"
    )
    parser.add_argument("--image", default=DEFAULT_IMAGE, help=f"sidecar image (default {DEFAULT_IMAGE})")
    parser.add_argument("--include-jobs", action="store_true", help="also inject Jobs and CronJobs")


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise ManifestError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path} is not UTF-8 text") from exc


def run_inject(args: argparse.Namespace) -> int:
    docs = load_documents(_read(args.filename))
    if args.uninject:
        result = uninject(docs)
    else:
        result = inject(docs, InjectOptions(image=args.image, classic=args.classic, include_jobs=args.include_jobs))
    text = dump_documents(result.docs) if result.docs else ""  # built in full first: an error writes nothing
    for note in result.notes:
        print(f"sidecar inject: {note}", file=sys.stderr)
    sys.stdout.write(text)
    return 0


def configure_webhook(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", default="0.0.0.0:8443", help="TLS listener host:port (default 0.0.0.0:8443)")
    parser.add_argument(
        "--tls-cert", required=True, metavar="FILE", help="PEM certificate (chain); reloaded when it changes"
    )
    parser.add_argument("--tls-key", required=True, metavar="FILE", help="PEM private key")
    parser.add_argument("--metrics-listen", default="", help="extra plain-HTTP listener for /metrics and health")
    parser.add_argument("--image", default=DEFAULT_IMAGE, help=f"sidecar image to inject (default {DEFAULT_IMAGE})")
    parser.add_argument("--classic", action="store_true", help="inject classic sidecars (clusters before 1.29)")
    parser.add_argument("--skip-namespaces", default="kube-system", help="comma-separated namespaces never injected")
    parser.add_argument("--cert-check-interval", type=float, default=10.0, help="seconds between certificate checks")


def run_webhook(args: argparse.Namespace) -> int:
    for flag, value in (("--listen", args.listen), ("--metrics-listen", args.metrics_listen)):
        if value:
            try:
                parse_host_port(value)
            except ValueError as exc:
                raise ConfigError(flag, str(exc)) from exc
    if not args.cert_check_interval > 0:
        raise ConfigError("--cert-check-interval", "must be > 0")
    settings = WebhookSettings(
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        listen=args.listen,
        metrics_listen=args.metrics_listen,
        image=args.image,
        classic=args.classic,
        skip_namespaces=tuple(ns.strip() for ns in args.skip_namespaces.split(",") if ns.strip()),
        cert_check_interval=args.cert_check_interval,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(settings))
    return 0
