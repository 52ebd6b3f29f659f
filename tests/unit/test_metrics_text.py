"""Quantiles read back from Prometheus text histograms (the demo's overhead figures)."""

from __future__ import annotations

from sidecar.demo.metrics_text import histogram_quantile

TEXT = """# TYPE x_seconds histogram
x_seconds_bucket{le="0.001"} 50
x_seconds_bucket{le="0.002"} 90
x_seconds_bucket{le="+Inf"} 100
x_seconds_bucket{route="a",le="0.001"} 50
x_seconds_bucket{route="a",le="0.002"} 90
x_seconds_bucket{route="a",le="+Inf"} 100
other_bucket{le="1"} 5
"""


def test_median_interpolates_inside_its_bucket() -> None:
    assert histogram_quantile(TEXT, "x_seconds", 0.5) == 0.001
    assert abs(histogram_quantile(TEXT, "x_seconds", 0.7) - 0.0015) < 1e-12  # type: ignore[operator]


def test_tail_in_the_infinite_bucket_reports_the_last_finite_bound() -> None:
    assert histogram_quantile(TEXT, "x_seconds", 0.99) == 0.002


def test_missing_metric_is_none() -> None:
    assert histogram_quantile(TEXT, "nope", 0.5) is None
    assert histogram_quantile("", "x_seconds", 0.5) is None
