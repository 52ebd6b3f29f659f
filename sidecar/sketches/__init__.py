"""sketches package."""
