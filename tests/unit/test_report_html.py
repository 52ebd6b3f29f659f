"""The HTML report: self-contained, one chart per feature, honest when data is missing, escaped."""

from __future__ import annotations

import re

from sidecar.report.html import render


def _data(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "model": "m",
        "generated": 0,
        "drift": {
            "model": "m",
            "drifted": True,
            "reference": {"n": 500, "source": "window"},
            "current": {"n": 400, "window_seconds": 900},
            "features": [
                {
                    "name": "age",
                    "kind": "numeric",
                    "role": "input",
                    "method": "ks",
                    "statistic": 0.3,
                    "p_value": 1e-9,
                    "effect_size": 0.4,
                    "drifted": True,
                },
                {
                    "name": "plan",
                    "kind": "categorical",
                    "role": "input",
                    "method": "chi2",
                    "statistic": 2.0,
                    "p_value": 0.5,
                    "effect_size": 0.01,
                    "drifted": False,
                },
            ],
            "data_quality": [
                {"feature": "age", "role": "input", "kind": "range", "value": 0.2, "reference_value": 0.0, "count": 80}
            ],
        },
        "distributions": [
            {
                "name": "age",
                "role": "input",
                "kind": "numeric",
                "shape": "histogram",
                "edges": [0, 1, 2, 3],
                "reference": [0.2, 0.5, 0.3],
                "current": [0.1, 0.3, 0.6],
                "reference_n": 500,
                "current_n": 400,
            },
            {
                "name": "plan",
                "role": "input",
                "kind": "categorical",
                "shape": "bars",
                "categories": ["a", "b"],
                "reference": [0.5, 0.5],
                "current": [0.4, 0.6],
                "reference_n": 500,
                "current_n": 400,
            },
        ],
        "anomalies": [{"request_id": "r1", "time": 0, "score": 9.5, "reasons": ["out_of_range"], "feature": "age"}],
        "performance": {"n_labeled": 10, "task": "classification", "metrics": {"accuracy": 0.9}},
    }
    base.update(kw)
    return base


def test_one_chart_per_feature_and_no_external_resources() -> None:
    page = render(_data())
    assert len(re.findall(r"<figure data-feature=", page)) == 2
    assert page.count("<svg") == 2
    assert not re.search(r"""(src|href)=["']?https?:""", page)
    assert "<script" not in page
    assert "drift detected" in page and "out_of_range" in page and "accuracy" in page


def test_honest_when_there_is_no_data() -> None:
    page = render({"drift": {"model": None, "features": [], "reason": "no traffic seen yet"}, "distributions": []})
    assert "No drift verdicts yet" in page and "no traffic seen yet" in page
    assert "No feature data yet" in page and "No labelled predictions yet" in page


def test_feature_names_are_escaped() -> None:
    data = _data()
    data["distributions"][0]["name"] = "<script>x</script>"  # type: ignore[index]
    page = render(data)
    assert "<script>x" not in page and "&lt;script&gt;" in page
