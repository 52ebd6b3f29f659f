"""Admin layer: the admin listener's application, guards and error shape."""

from __future__ import annotations

from .auth import error_middleware, json_error, require_mutation_allowed
from .server import Readiness, build_admin_app

__all__ = ["Readiness", "build_admin_app", "error_middleware", "json_error", "require_mutation_allowed"]
