"""Client behaviour: a probing, bursting, sweeping or poisoning client among honest ones (simulated time)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from sidecar.anomaly.behaviour import ClientTracker

NAMES = ("a", "b", "c", "d")


def _honest_traffic(tracker: ClientTracker, rng: np.random.Generator, clients: int, seconds: int) -> Counter[str]:
    """Honest clients: ~one request per 5 s each, inputs drawn from the population."""
    flags: Counter[str] = Counter()
    for t in range(seconds):
        for c in rng.choice(clients, size=max(1, clients // 5), replace=False):
            vector = rng.normal(size=len(NAMES)) * [1, 10, 100, 0.1]
            for reason in tracker.observe(f"client-{c}", float(t) + rng.random(), vector, NAMES):
                flags[reason] += 1
    return flags


def test_honest_clients_are_never_flagged() -> None:
    rng = np.random.default_rng(0)
    tracker = ClientTracker(1000)
    assert _honest_traffic(tracker, rng, clients=100, seconds=300) == Counter()


def test_probing_client_is_flagged_and_honest_ones_are_not() -> None:
    rng = np.random.default_rng(1)
    tracker = ClientTracker(1000)
    _honest_traffic(tracker, rng, clients=50, seconds=60)
    honest: Counter[str] = Counter()
    probe: Counter[str] = Counter()
    point = np.array([0.3, 2.0, -40.0, 0.05])
    for step in range(120):
        t = 60.0 + step
        # Decision-boundary search: small random perturbations around one point.
        for reason in tracker.observe("prober", t, point + rng.normal(size=4) * [0.01, 0.1, 1.0, 0.001], NAMES):
            probe[reason] += 1
        for c in rng.choice(50, size=10, replace=False):
            for reason in tracker.observe(f"client-{c}", t + 0.5, rng.normal(size=4) * [1, 10, 100, 0.1], NAMES):
                honest[reason] += 1
    assert probe["near_duplicate_probing"] >= 100
    assert honest == Counter()


def test_exact_retries_are_not_probing() -> None:
    tracker = ClientTracker(10)
    vector = np.array([1.0, 2.0, 3.0, 4.0])
    for i in range(100):
        tracker.observe("scatter", float(i), np.array([i, -i, i * 2, 0.5 * i]), NAMES)
    reasons = [tracker.observe("retrier", 100.0 + i * 2, vector, NAMES) for i in range(50)]
    assert all(r == () for r in reasons)


def test_rate_burst_against_own_baseline_and_population() -> None:
    tracker = ClientTracker(1000)
    rng = np.random.default_rng(2)
    _honest_traffic(tracker, rng, clients=100, seconds=120)
    # A quiet client suddenly sends 200 requests in 4 seconds.
    flags = [tracker.observe("burster", 120.0 + i * 0.02, None) for i in range(200)]
    assert sum("rate_burst" in f for f in flags) >= 150
    assert flags[0] == ()
    # A client that has always been busy (5 req/s for 15 minutes) is not bursting at 5 req/s.
    steady = [tracker.observe("batch-job", 200.0 + i * 0.2, None) for i in range(4500)]
    assert not any(steady[-1000:])


def test_feature_sweep_is_flagged() -> None:
    tracker = ClientTracker(10)
    base = np.array([1.0, 20.0, 300.0, 0.4])
    for i in range(200):  # give the running scales something to work with
        tracker.observe("other", float(i), base * (1 + 0.1 * np.sin(i)), NAMES)
    flags = []
    for step in range(12):
        v = base.copy()
        v[2] = 250.0 + 10.0 * step  # one feature walked upwards, everything else held fixed
        flags.append(tracker.observe("sweeper", 300.0 + step, v, NAMES))
    assert flags[:5] == [()] * 5
    assert all("feature_sweep" in f for f in flags[6:])
    # A change of direction or of a second feature breaks the sweep.
    v = base.copy()
    v[2], v[0] = 200.0, 9.0
    assert "feature_sweep" not in tracker.observe("sweeper", 400.0, v, NAMES)


def test_feedback_poisoning_share_and_contradictions() -> None:
    tracker = ClientTracker(100)
    flagged: Counter[str] = Counter()
    for i in range(600):
        t = float(i)
        who = "flooder" if i % 5 != 0 else f"labeller-{i % 7}"
        honest_agrees = i % 20 != 0  # honest labels agree with confident predictions 95% of the time
        for reason in tracker.observe_label(who, t, honest_agrees if i % 2 else None):
            flagged[who] += 1
            assert reason == "feedback_poisoning"
    assert flagged["flooder"] > 300
    assert sum(v for k, v in flagged.items() if k != "flooder") == 0

    tracker = ClientTracker(100)
    contra: Counter[str] = Counter()
    for i in range(800):
        who = f"labeller-{i % 8}"
        agrees = (i % 3 == 0) if who == "labeller-3" else (i % 20 != 0)  # labeller-3 contradicts 2/3
        if tracker.observe_label(who, float(i), agrees):
            contra[who] += 1
    assert contra["labeller-3"] > 50
    assert set(contra) == {"labeller-3"}


def test_one_dominant_labeller_alone_is_not_poisoning() -> None:
    tracker = ClientTracker(10)
    assert not any(tracker.observe_label("only-source", float(i), True) for i in range(500))


def test_memory_is_bounded_and_bad_input_is_tolerated() -> None:
    tracker = ClientTracker(50, max_dims=3, ring=4)
    for i in range(500):
        tracker.observe(f"c{i}", float(i), np.arange(10, dtype=float), tuple(f"f{k}" for k in range(10)))
    assert len(tracker) == 50
    assert tracker.observe("x", 1.0, np.array([np.nan, np.inf, 1.0]), ("p", "q", "r")) == ()
    assert tracker.observe("x", 2.0, np.array([1.0, 2.0]), ("only-one-name",)) == ()  # shape mismatch: ignored
    assert tracker.observe("x", None, None) == ()
    with pytest.raises(ValueError):
        ClientTracker(0)


def test_now_fn_supplies_time() -> None:
    clock = iter(float(i) / 100 for i in range(10_000))
    tracker = ClientTracker(10, now_fn=lambda: next(clock))
    reasons = [tracker.observe("fast", None, None) for _ in range(300)]
    assert any("rate_burst" in r for r in reasons)


def test_young_steady_clients_are_not_bursts_but_a_tenfold_one_is() -> None:
    # The demo's shape: a few clients that appeared moments ago, all sending ~10 req/s.
    tracker = ClientTracker(100)
    flagged: Counter[str] = Counter()
    t = 0.0
    for step in range(600):  # 60 s at 10 req/s per client
        t = step * 0.1
        for client in ("a", "b", "c", "d", "e"):
            flagged[client] += "rate_burst" in tracker.observe(client, t + hash(client) % 7 * 0.001, None)
    assert sum(flagged.values()) == 0, flagged
    hits = 0
    for i in range(1500):  # one client at 300 req/s for 5 s (30x the others)
        hits += "rate_burst" in tracker.observe("burst", t + i * 0.0033, None)
    assert hits > 300
