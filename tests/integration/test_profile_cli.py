"""``sidecar profile``: files in every format → a valid profile file, or an upload to a real HTTP peer."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from sidecar.cli import main
from sidecar.features.values import text_stats
from sidecar.sketches import Profile

N = 3000


def _table() -> pa.Table:
    rng = np.random.default_rng(1)
    age = rng.normal(40, 10, N)
    age[::100] = np.nan  # NaN values, counted apart from missing
    return pa.table(
        {
            "age": pa.array(age),
            "income": pa.array([None if i % 10 == 0 else float(i) for i in range(N)]),
            "plan": pa.array([("basic", "pro", "team")[i % 3] for i in range(N)]),
            "email": pa.array([f"user{i}@example.com" for i in range(N)]),
            "active": pa.array([i % 4 == 0 for i in range(N)]),
            "review": pa.array([f"This product is GREAT, I bought {i} of them. Très bien!" for i in range(N)]),
            "prediction": pa.array(rng.random(N)),
        }
    )


def _write(tmp_path: Path, fmt: str) -> Path:
    table = _table()
    if fmt == "parquet":
        path = tmp_path / "churn.parquet"
        pq.write_table(table, path)
    elif fmt == "csv":
        path = tmp_path / "churn.csv"
        pcsv.write_csv(table, path)
    elif fmt == "csv.gz":
        plain = tmp_path / "plain.csv"
        pcsv.write_csv(table, plain)
        path = tmp_path / "churn.csv.gz"
        path.write_bytes(gzip.compress(plain.read_bytes()))
    else:
        path = tmp_path / "churn.jsonl"
        with path.open("w") as out:
            for row in table.to_pylist():
                row["age"] = None if row["age"] != row["age"] else row["age"]  # JSON has no NaN
                out.write(json.dumps(row) + "\n")
    return path


@pytest.mark.parametrize("fmt", ["parquet", "csv", "csv.gz", "jsonl"])
def test_profile_file_in_every_format(tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    data = _write(tmp_path, fmt)
    out = tmp_path / "profile.json"
    assert main(["profile", str(data), "--role-output", "prediction", "--out", str(out), "--no-progress"]) == 0
    assert "3000 rows" in capsys.readouterr().err
    profile = Profile.from_json(json.loads(out.read_text()))
    assert (profile.model, profile.n, profile.source) == ("churn", N, "profile")
    age = profile.numeric[("input", "age")]
    if fmt == "parquet":
        assert (age.count, age.nan, age.missing) == (N - 30, 30, 0)
    else:  # CSV writes NaN as an empty field and JSON has none: both read back as missing
        assert (age.count, age.nan, age.missing) == (N - 30, 0, 30)
    assert age.mean == pytest.approx(40, abs=1)
    assert profile.numeric[("input", "income")].missing == 300
    assert profile.categorical[("input", "plan")].frequencies() == {"basic": 1000, "pro": 1000, "team": 1000}
    assert profile.categorical[("input", "active")].frequencies() == {"true": 750, "false": 2250}
    # E-mail addresses never become category labels: they are hashed like live traffic hashes them.
    emails = profile.categorical[("input", "email")]
    assert all(label.startswith("#h:") for label in emails.counts)
    assert profile.kinds[("output", "prediction")] == "numeric"
    # Free text becomes the live side's text statistics, never the text itself.
    assert ("input", "review") not in profile.kinds
    sample = "This product is GREAT, I bought 7 of them. Très bien!"
    live = dict(text_stats(sample, None))
    assert set(live) == {"length", "tokens", "non_ascii_share", "digit_share", "upper_share"}
    tokens = profile.numeric[("input", "review.tokens")]
    assert profile.kinds[("input", "review.tokens")] == "text"
    assert tokens.min == live["tokens"] and tokens.max == live["tokens"]
    upper = profile.numeric[("input", "review.upper_share")]
    assert upper.quantile(0.5) == pytest.approx(live["upper_share"], rel=0.02)
    assert profile.moments is not None and set(profile.moments.names) == {"age", "income"}
    assert "review" not in out.read_text() or "review." in out.read_text()


def test_exclude_and_explicit_text(tmp_path: Path) -> None:
    data = _write(tmp_path, "parquet")
    out = tmp_path / "p.json"
    args = ["profile", str(data), "--model", "m2", "--exclude", "email,review", "--text", "plan", "--out", str(out)]
    assert main(args) == 0
    profile = Profile.from_json(json.loads(out.read_text()))
    names = {name for _, name in profile.kinds}
    assert profile.model == "m2"
    assert "email" not in names and not any(n.startswith("review") for n in names)
    assert "plan.length" in names


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: p / "missing.csv", "no such file"),
        (lambda p: _text(p / "data.xlsx", "a,b\n1,2\n"), "cannot tell the format"),
        (lambda p: _text(p / "bad.parquet", "not parquet at all"), "cannot read bad.parquet as parquet"),
        (lambda p: _text(p / "empty.csv", "a,b\n"), "no rows"),
        (lambda p: _text(p / "ragged.csv", "a,b\n1,2\n3\n"), "cannot read ragged.csv as csv"),
        (lambda p: _text(p / "bad.jsonl", '{"a": 1}\n{"a": \n'), "cannot read bad.jsonl as jsonl"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    tmp_path: Path, setup: Any, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = setup(tmp_path)
    assert main(["profile", str(path), "--out", str(tmp_path / "o.json")]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "o.json").exists()


def _text(path: Path, content: str) -> Path:
    path.write_text(content)
    return path


class _Admin(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str | None, Any]]] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Admin.received.append((self.path, self.headers.get("Authorization"), json.loads(body)))
        answer = {"version": 7} if _Admin.status == 200 else {"error": "forbidden", "detail": "bad token"}
        payload = json.dumps(answer).encode()
        self.send_response(_Admin.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def admin_server() -> Iterator[str]:
    _Admin.received = []
    _Admin.status = 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Admin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_push_uploads_with_token(
    tmp_path: Path, admin_server: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SIDECAR_ADMIN_TOKEN", "s3cret")
    data = _write(tmp_path, "csv")
    assert main(["profile", str(data), "--model", "churn", "--push", admin_server]) == 0
    path, auth, body = _Admin.received[0]
    assert path == "/v1/reference?model=churn"
    assert auth == "Bearer s3cret"
    assert Profile.from_json(body).n == N
    assert "version 7" in capsys.readouterr().err


def test_push_failure_is_reported(tmp_path: Path, admin_server: str, capsys: pytest.CaptureFixture[str]) -> None:
    _Admin.status = 403
    data = _write(tmp_path, "csv")
    assert main(["profile", str(data), "--push", admin_server]) == 1
    assert "HTTP 403 (forbidden: bad token)" in capsys.readouterr().err
    assert main(["profile", str(data), "--push", "http://127.0.0.1:9"]) == 1
    assert "cannot reach" in capsys.readouterr().err
