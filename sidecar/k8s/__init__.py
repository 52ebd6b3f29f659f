"""Kubernetes attachment: `sidecar inject` (pure manifest transform) and the mutating admission webhook."""
