"""codecs package."""
