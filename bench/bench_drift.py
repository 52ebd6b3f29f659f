"""Drift benchmark: false alarms, detection power, evaluation time; optional comparison with other tools.

    python bench/bench_drift.py                 # our figures (several minutes on 2 busy cores)
    python bench/bench_drift.py --quick         # fewer trials
    python bench/bench_drift.py --compare       # also Evidently / alibi-detect / whylogs, if their venvs exist
    python bench/bench_drift.py --quick --compare --only-compare --tools whylogs

The comparison tools are never dependencies of the project: ``--compare`` looks for throwaway
virtualenvs (``--evidently-python``, ``--alibi-python``, ``--whylogs-python``; defaults
/tmp/h5venv_ev, /tmp/h5venv_ad, /tmp/h5venv_wl), made with ``python -m venv DIR`` and then
``DIR/bin/pip install evidently "pandas<3"``, ``alibi-detect``, or
``"whylogs[viz]" "numpy<2" "pandas<2.3"``, and runs the small script in ``_COMPARE_SCRIPT`` in
them on exactly the same samples. Missing venvs or tools that fail to import are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

# A 64×64 eigendecomposition gains nothing from BLAS threads, and they spin on a busy 2-core box.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sidecar.config import DriftSettings
from sidecar.drift.evaluate import evaluate
from sidecar.models import DriftResult
from sidecar.sketches.builder import ProfileBuilder
from sidecar.sketches.profile import Profile

SETTINGS = DriftSettings()
STRICT = DriftSettings(alpha=0.01)
SHARES = np.array([0.3, 0.25, 0.2, 0.1, 0.08, 0.05, 0.02])
SHIFTED_SHARES = np.array([0.2, 0.25, 0.2, 0.2, 0.08, 0.05, 0.02])  # k0 −10 points, k3 +10 points
N_NUMERIC, N_CATEGORICAL = 15, 5
Shift = Callable[[np.ndarray, np.ndarray, np.random.Generator], None]


def sample(rng: np.random.Generator, size: int, shift: Shift | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(numeric (size × 15), categorical codes (size × 5)) — mixed shapes, one 1000 ± 1 column."""
    num = np.empty((size, N_NUMERIC))
    num[:, 0] = rng.normal(0, 1, size)
    num[:, 1] = 1000 + rng.normal(0, 1, size)
    num[:, 2] = rng.lognormal(0, 1, size)
    num[:, 3] = rng.poisson(3, size)
    num[:, 4] = rng.uniform(-5, 5, size)
    for i in range(5, N_NUMERIC):
        num[:, i] = rng.normal(i, 1 + i, size)
    cat = np.column_stack([rng.choice(SHARES.size, size, p=SHARES) for _ in range(N_CATEGORICAL)])
    if shift is not None:
        shift(num, cat, rng)
    return num, cat


def profile(num: np.ndarray, cat: np.ndarray, reference: Profile | None = None, *, moments: bool = True) -> Profile:
    builder = (
        ProfileBuilder("bench")
        if reference is None
        else ProfileBuilder.for_reference(reference, top_k=50, max_features=256)
    )
    for i in range(num.shape[1]):
        builder.add_numeric(("input", f"n{i}"), num[:, i])
    for j in range(cat.shape[1]):
        counts = Counter(cat[:, j].tolist())
        builder.add_categorical(("input", f"c{j}"), {f"k{k}": v for k, v in counts.items()})
    builder.add_rows(num.shape[0], 0.0, 1.0)
    if moments:
        builder.add_moment_rows([f"n{i}" for i in range(num.shape[1])], num)
    built = builder.build(decide=True)
    if reference is None:
        built.source = "profile"
    return built


def drifted_names(result: DriftResult) -> set[str]:
    names = {f.name for f in result.features if f.drifted}
    if result.multivariate and result.multivariate.get("drifted"):
        names.add("multivariate")
    return names


def false_alarms(
    rng: np.random.Generator, ref: Profile, windows: list[int], evaluations: int
) -> list[dict[str, object]]:
    loose = DriftSettings(wasserstein_threshold=0.0, psi_threshold=0.0, js_threshold=0.0)
    rows = []
    for m in windows:
        flagged = strict = flagged_features = significant = 0
        for _ in range(evaluations):
            cur = profile(*sample(rng, m), reference=ref)
            names = drifted_names(evaluate(ref, cur, SETTINGS, window_seconds=900))
            flagged += bool(names)
            flagged_features += len(names - {"multivariate"})
            strict += bool(drifted_names(evaluate(ref, cur, STRICT, window_seconds=900)))
            significant += bool(drifted_names(evaluate(ref, cur, loose, window_seconds=900)))
        rows.append(
            {
                "window": m,
                "evaluations": evaluations,
                "eval_flag_rate": flagged / evaluations,
                "feature_flag_rate": flagged_features / (evaluations * (N_NUMERIC + N_CATEGORICAL)),
                "eval_flag_rate_alpha_0.01": strict / evaluations,
                "significance_only_eval_rate": significant / evaluations,
            }
        )
    return rows


def _mean_shift(column: int, sigma: float) -> Shift:
    def apply(num: np.ndarray, cat: np.ndarray, rng: np.random.Generator) -> None:
        num[:, column] += sigma

    return apply


def _category_shift(column: int) -> Shift:
    def apply(num: np.ndarray, cat: np.ndarray, rng: np.random.Generator) -> None:
        cat[:, column] = rng.choice(SHIFTED_SHARES.size, num.shape[0], p=SHIFTED_SHARES)

    return apply


SCENARIOS: dict[str, tuple[Shift, str]] = {
    "0.2σ shift, normal (n0)": (_mean_shift(0, 0.2), "n0"),
    "0.2σ shift, 1000±1 (n1)": (_mean_shift(1, 0.2), "n1"),
    "0.2σ shift, N(9,10) (n9)": (_mean_shift(9, 0.2 * 10), "n9"),
    "10-point category shift (c2)": (_category_shift(2), "c2"),
}


def power(rng: np.random.Generator, ref: Profile, windows: list[int], trials: int) -> list[dict[str, object]]:
    rows = []
    for label, (shift, target) in SCENARIOS.items():
        for m in windows:
            hit = other = strict = 0
            for _ in range(trials):
                cur = profile(*sample(rng, m, shift), reference=ref)
                names = drifted_names(evaluate(ref, cur, SETTINGS, window_seconds=900))
                hit += target in names
                other += bool(names - {target, "multivariate"})
                strict += target in drifted_names(evaluate(ref, cur, STRICT, window_seconds=900))
            rows.append(
                {
                    "scenario": label,
                    "window": m,
                    "trials": trials,
                    "detected": hit / trials,
                    "other_flagged": other / trials,
                    "detected_alpha_0.01": strict / trials,
                }
            )
    return rows


def timing(rng: np.random.Generator, repeats: int) -> dict[str, float]:
    """Evaluate 100 features (80 numeric, 20 categorical; moments over 64 numeric inputs)."""

    def wide(size: int) -> tuple[np.ndarray, np.ndarray]:
        num = rng.normal(0, 1, (size, 80)) * np.arange(1, 81) + np.arange(80)
        cat = np.column_stack([rng.choice(SHARES.size, size, p=SHARES) for _ in range(20)])
        return num, cat

    ref = profile(*wide(10_000))
    cur = profile(*wide(2_000), reference=ref)
    evaluate(ref, cur, SETTINGS, window_seconds=900)  # warm scipy's lazy imports
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = evaluate(ref, cur, SETTINGS, window_seconds=900)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    assert len(result.features) == 100
    wall.sort()
    return {
        "features": 100.0,
        "wall_median_ms": statistics.median(wall),
        "wall_min_ms": wall[0],
        "wall_p95_ms": wall[int(0.95 * (len(wall) - 1))],
        "cpu_median_ms": statistics.median(cpu),
        "cpu_min_ms": min(cpu),
        "load_avg_1m": os.getloadavg()[0],
    }


def compare(args: argparse.Namespace, evaluations: int, trials: int) -> list[dict[str, object]]:
    """Same samples through Evidently / alibi-detect (raw data, their default drift decisions)."""
    rng = np.random.default_rng(7)
    m = 2000
    ref_num, ref_cat = sample(rng, 10_000)
    ref = profile(ref_num, ref_cat)
    cases: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"null": [sample(rng, m) for _ in range(evaluations)]}
    for label, (shift, _target) in SCENARIOS.items():
        cases[label] = [sample(rng, m, shift) for _ in range(trials)]
    results: list[dict[str, object]] = []
    # ours on the very same windows
    for label, windows in cases.items():
        target = SCENARIOS[label][1] if label in SCENARIOS else None
        start = time.perf_counter()
        flags = [
            drifted_names(evaluate(ref, profile(n, c, reference=ref), SETTINGS, window_seconds=900)) for n, c in windows
        ]
        elapsed = (time.perf_counter() - start) / len(windows) * 1000
        results.append(_summary("model-sidecar", label, target, [sorted(f - {"multivariate"}) for f in flags], elapsed))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "cases.npz"
        arrays: dict[str, np.ndarray] = {"ref_num": ref_num, "ref_cat": ref_cat}
        labels = list(cases)
        for i, label in enumerate(labels):
            arrays[f"case{i}_num"] = np.stack([n for n, _c in cases[label]])
            arrays[f"case{i}_cat"] = np.stack([c for _n, c in cases[label]])
        np.savez(data, **arrays)
        script = Path(tmp) / "compare_tools.py"
        script.write_text(_COMPARE_SCRIPT)
        tools = (
            ("evidently", args.evidently_python),
            ("alibi", args.alibi_python),
            ("whylogs", args.whylogs_python),
        )
        for tool, python in tools:
            if tool not in args.tools:
                continue
            if not Path(python).exists():
                print(f"  {tool}: skipped (no venv at {python})")
                continue
            proc = subprocess.run(
                [python, str(script), tool, str(data), str(len(labels))], capture_output=True, text=True, timeout=1800
            )
            if proc.returncode != 0:
                print(
                    f"  {tool}: skipped ({proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else 'failed'})"
                )
                continue
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            for i, label in enumerate(labels):
                target = SCENARIOS[label][1] if label in SCENARIOS else None
                results.append(_summary(out["tool"], label, target, out["cases"][i]["flags"], out["cases"][i]["ms"]))
    return results


_COMPARE_SCRIPT = r"""
import json, sys, time, warnings
import numpy as np

warnings.filterwarnings("ignore")
tool, path, cases = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = np.load(path)
ref_num, ref_cat = data["ref_num"], data["ref_cat"]
num_names = [f"n{i}" for i in range(ref_num.shape[1])]
cat_names = [f"c{j}" for j in range(ref_cat.shape[1])]
names = num_names + cat_names

if tool == "evidently":
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=num_names, categorical_columns=cat_names)

    def frame(num, cat):
        df = pd.DataFrame(num, columns=num_names)
        for j, name in enumerate(cat_names):
            df[name] = [f"k{v}" for v in cat[:, j]]
        return Dataset.from_pandas(df, data_definition=definition)

    reference = frame(ref_num, ref_cat)

    def flags(num, cat):
        snapshot = Report([DataDriftPreset()]).run(frame(num, cat), reference)
        out = []
        for metric in snapshot.dict()["metrics"]:
            config = metric["config"]
            if not config["type"].endswith("ValueDrift"):
                continue
            value, threshold = metric["value"], config["threshold"]
            drifted = value < threshold if "p_value" in config["method"] else value >= threshold
            if drifted:
                out.append(config["column"])
        return out

    label = "evidently (DataDriftPreset defaults)"
elif tool == "whylogs":
    import pandas as pd
    import whylogs as why
    from whylogs.viz.drift.column_drift_algorithms import calculate_drift_scores

    def frame(num, cat):
        df = pd.DataFrame(num, columns=num_names)
        for j, name in enumerate(cat_names):
            df[name] = [f"k{v}" for v in cat[:, j]]
        return df

    reference = why.log(frame(ref_num, ref_cat)).profile().view()

    def flags(num, cat):
        view = why.log(frame(num, cat)).profile().view()
        scores = calculate_drift_scores(target_view=view, reference_view=reference, with_thresholds=True)
        return [name for name, score in scores.items() if score and score.get("drift_category") == "DRIFT"]

    label = "whylogs (KS on KLL / chi2, p < 0.05 per column)"
else:
    from alibi_detect.cd import TabularDrift

    ref = np.column_stack([ref_num, ref_cat]).astype(np.float64)
    detector = TabularDrift(ref, p_val=0.05, categories_per_feature={ref_num.shape[1] + j: None for j in range(len(cat_names))})

    def flags(num, cat):
        result = detector.predict(np.column_stack([num, cat]).astype(np.float64), drift_type="batch")["data"]
        # batch mode: Bonferroni-corrected threshold, the same family-wise goal as ours
        return [names[i] for i, p in enumerate(result["p_val"]) if p < result["threshold"]]

    label = "alibi-detect TabularDrift (KS/chi2, Bonferroni)"

out = {"tool": label, "cases": []}
for i in range(cases):
    nums, cats = data[f"case{i}_num"], data[f"case{i}_cat"]
    start = time.perf_counter()
    found = [flags(nums[k], cats[k]) for k in range(nums.shape[0])]
    out["cases"].append({"flags": found, "ms": (time.perf_counter() - start) / nums.shape[0] * 1000})
print(json.dumps(out))
"""


def _summary(tool: str, label: str, target: str | None, flags: list[list[str]], ms: float) -> dict[str, object]:
    n = len(flags)
    row: dict[str, object] = {"tool": tool, "case": label, "windows": n, "ms_per_window": round(ms, 2)}
    if target is None:
        row["eval_flag_rate"] = sum(bool(f) for f in flags) / n
    else:
        row["detected"] = sum(target in f for f in flags) / n
        row["other_flagged"] = sum(bool(set(f) - {target}) for f in flags) / n
    return row


def _table(rows: list[dict[str, object]]) -> None:
    if not rows:
        return
    keys = list(rows[0]) + [k for r in rows for k in r if k not in rows[0]]
    keys = list(dict.fromkeys(keys))
    print("  " + " | ".join(keys))
    for row in rows:
        cells = [f"{row[k]:.4g}" if isinstance(row.get(k), float) else str(row.get(k, "")) for k in keys]
        print("  " + " | ".join(cells))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--compare", action="store_true")
    parser.add_argument("--evidently-python", default="/tmp/h5venv_ev/bin/python")
    parser.add_argument("--alibi-python", default="/tmp/h5venv_ad/bin/python")
    parser.add_argument("--whylogs-python", default="/tmp/h5venv_wl/bin/python")
    parser.add_argument("--tools", nargs="*", default=["evidently", "alibi", "whylogs"])
    parser.add_argument("--only-compare", action="store_true", help="skip our own sections")
    args = parser.parse_args()
    evaluations, trials = (100, 40) if args.quick else (400, 100)
    rng = np.random.default_rng(2026)
    ref = profile(*sample(rng, 10_000))
    print(f"settings: {SETTINGS}")
    print(f"reference: 10,000 rows, {N_NUMERIC} numeric + {N_CATEGORICAL} categorical features, Holm across features")
    if not args.only_compare:
        print("\nfalse alarms on unshifted windows (goal: eval_flag_rate ≤ 0.01)")
        _table(false_alarms(rng, ref, [200, 500, 2000], evaluations))
        print("\ndetection power (target feature flagged) and collateral flags")
        _table(power(rng, ref, [500, 1000, 2000], trials))
        print("\nevaluation time, 100 features, reference 10k rows, window 2k rows (goal ≤ 50 ms)")
        _table([timing(rng, 20 if args.quick else 50)])
    if args.compare or args.only_compare:
        print("\ncomparison on the same windows (2,000 rows; the others see raw samples, we see sketches)")
        _table(compare(args, 30 if args.quick else 100, 10 if args.quick else 30))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
