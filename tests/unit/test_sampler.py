"""Sampling decisions: rate, always-capture rules, and the per-second cap."""

from __future__ import annotations

import dataclasses

from sidecar.capture.sampler import Sampler
from sidecar.config import CaptureSettings


def _sampler(**kw: object) -> Sampler:
    return Sampler(dataclasses.replace(CaptureSettings(), **kw), seed=1)  # type: ignore[arg-type]


def test_rate_zero_never_picks_and_one_always_does() -> None:
    assert not any(_sampler(sample_rate=0.0).pick() for _ in range(1000))
    assert all(_sampler(sample_rate=1.0).pick() for _ in range(1000))


def test_fractional_rate_picks_about_that_share() -> None:
    sampler = _sampler(sample_rate=0.25)
    share = sum(sampler.pick() for _ in range(20000)) / 20000
    assert 0.23 < share < 0.27


def test_errors_and_slow_requests_are_kept_even_when_not_picked() -> None:
    sampler = _sampler(sample_rate=0.0, capture_errors=True, slow_threshold=0.5)
    assert sampler.keep(False, 503, 0.01)
    assert sampler.keep(False, 0, 0.01)  # no response at all
    assert sampler.keep(False, 200, 0.6)
    assert not sampler.keep(False, 200, 0.1)
    assert not _sampler(sample_rate=0.0, capture_errors=False).keep(False, 503, 0.01)


def test_per_second_cap_refuses_and_counts_beyond_the_burst() -> None:
    sampler = _sampler(sample_rate=1.0, max_samples_per_second=10.0)
    kept = sum(sampler.keep(True, 200, 0.0) for _ in range(100))
    assert 10 <= kept <= 11  # the burst of one second, plus what refilled meanwhile
    assert sampler.skipped == 100 - kept


def test_tees_only_when_something_can_be_captured() -> None:
    assert not _sampler(sample_rate=0.0, capture_errors=False, slow_threshold=0.0).tees
    assert _sampler(sample_rate=0.0, capture_errors=True).tees
    assert not _sampler(sample_rate=1.0, max_samples_per_second=0.0).tees
