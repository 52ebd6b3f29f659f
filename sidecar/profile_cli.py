"""``sidecar profile``: build a reference profile from training data and write or upload it (CLI edge).

Reads CSV, Parquet or JSON Lines with pyarrow, one record batch at a time, and feeds whole columns
to a ``ProfileBuilder`` (vectorised).  Kinds are inferred per column from the Arrow type of the first
batch: numbers → numeric; booleans → categorical ``true``/``false``; strings → categorical, or free
text when listed in ``--text`` or (automatically) when the first batch's median length is at least
``TEXT_MIN_MEDIAN_LENGTH`` characters and the median value has a space.  Text columns become the same
derived numeric features the live sidecar computes (``<col>.length``, ``<col>.tokens``,
``<col>.non_ascii_share``, ``<col>.digit_share``, ``<col>.upper_share``; kind "text"), and category
labels go through the same privacy rule as live traffic (``features.values.category_label``), so the
reference and the windows name and label things identically.  Nested structs are flattened to dotted
names; lists, binaries and temporal columns are skipped (reported).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import ProfileError, SidecarError
from .features.values import category_label
from .sketches.profile import FeatureKey, Profile, ProfileBuilder

TEXT_MIN_MEDIAN_LENGTH = 40
_BATCH_ROWS = 65_536
_CSV_BLOCK = 16 << 20  # large blocks: CSV types are inferred from the first one
_PROGRESS_MIN_BYTES = 8 << 20
_WARMUP = 65_536  # values per feature that decide its centre/scale
_FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
_TOKEN = r"[\pL\pN_]+|[^\pL\pN_\s]"  # RE2 spelling of the live side's \w+|[^\w\s]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", metavar="DATA", help="training data: .csv, .parquet or .jsonl (optionally .gz)")
    parser.add_argument("--model", default=None, help="model name (default: the file name without extension)")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--push", metavar="ADMIN_URL", default=None, help="upload to a running sidecar's admin API")
    target.add_argument("--out", metavar="FILE", default=None, help="write the profile JSON here ('-' = stdout)")
    parser.add_argument(
        "--format", choices=("csv", "parquet", "jsonl"), default=None, help="default: from the extension"
    )
    parser.add_argument("--role-output", metavar="COL,...", default="", help="columns that are model outputs")
    parser.add_argument("--text", metavar="COL,...", default="", help="string columns to treat as free text")
    parser.add_argument("--exclude", metavar="COL,...", default="", help="columns to leave out (ids, labels)")
    parser.add_argument("--top-k", type=int, default=50, help="categories tracked per feature (drift.top_k)")
    parser.add_argument("--max-features", type=int, default=256, help="feature cap (capture.max_features)")
    parser.add_argument("--no-progress", action="store_true", help="never show a progress bar")


def run(args: argparse.Namespace) -> int:
    path = Path(args.data)
    if not path.is_file():
        raise ProfileError(f"cannot read {path}: no such file")
    fmt = args.format or _FORMATS.get(path.suffix.lower() if path.suffix != ".gz" else Path(path.stem).suffix.lower())
    if fmt is None:
        raise ProfileError(f"cannot tell the format of {path.name}: pass --format csv|parquet|jsonl")
    model = args.model or path.name.split(".")[0]
    if not model:
        raise ProfileError("the model name is empty: pass --model")
    profiler = _Profiler(
        model,
        outputs=_names(args.role_output),
        text=_names(args.text),
        exclude=_names(args.exclude),
        top_k=args.top_k,
        max_features=args.max_features,
    )
    started = time.perf_counter()
    with _progress(path, fmt, enabled=not args.no_progress and sys.stderr.isatty()) as advance:
        for batch, done in _batches(path, fmt):
            profiler.add(batch)
            advance(done)
    profile = profiler.build()
    elapsed = time.perf_counter() - started
    summary = (
        f"profile of {model!r}: {profile.n} rows, {len(profile.kinds)} features in {elapsed:.1f}s"
        f" ({profile.n / max(elapsed, 1e-9):,.0f} rows/s)"
    )
    if profiler.skipped:
        summary += f"; skipped columns: {', '.join(sorted(profiler.skipped)[:10])}"
    document = profile.to_json()
    if args.push:
        answer = _push(args.push, model, document)
        print(f"{summary}; uploaded as version {answer.get('version')}", file=sys.stderr)
    else:
        out = args.out or f"{model}.profile.json"
        text = json.dumps(document, separators=(",", ":"))
        if out == "-":
            sys.stdout.write(text + "\n")
        else:
            try:
                Path(out).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise ProfileError(f"cannot write {out}: {exc.strerror or exc}") from exc
        print(f"{summary} → {out}", file=sys.stderr)
    return 0


def _names(raw: str) -> frozenset[str]:
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


# ---------------------------------------------------------------------- reading


def _batches(path: Path, fmt: str) -> Iterator[tuple[pa.RecordBatch, int]]:
    """Record batches with progress (bytes read, or rows for Parquet)."""
    import pyarrow.csv as pcsv
    import pyarrow.json as pjson
    import pyarrow.parquet as pq

    try:
        if fmt == "parquet":
            parquet = pq.ParquetFile(str(path))
            rows = 0
            for batch in parquet.iter_batches(batch_size=_BATCH_ROWS):
                rows += batch.num_rows
                yield batch, rows
            return
        raw = pa.OSFile(str(path), "rb")
        stream = pa.CompressedInputStream(raw, "gzip") if path.suffix == ".gz" else raw
        if fmt == "csv":
            delimiter = "\t" if ".tsv" in path.suffixes else ","
            reader = pcsv.open_csv(
                stream,
                read_options=pcsv.ReadOptions(block_size=_CSV_BLOCK),
                parse_options=pcsv.ParseOptions(delimiter=delimiter),
            )
        else:
            reader = pjson.open_json(stream, read_options=pjson.ReadOptions(block_size=_CSV_BLOCK))
        for batch in reader:
            yield batch, raw.tell()
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ProfileError(f"cannot read {path.name} as {fmt}: {first[:300]}") from exc


class _progress:
    """A rich progress bar on stderr for large files (context manager yielding ``advance(done)``)."""

    def __init__(self, path: Path, fmt: str, *, enabled: bool) -> None:
        self._enabled = enabled and path.stat().st_size >= _PROGRESS_MIN_BYTES
        self._total = float(path.stat().st_size)
        self._bar: Any = None
        if fmt == "parquet" and self._enabled:
            import pyarrow.parquet as pq

            self._total = float(pq.ParquetFile(str(path)).metadata.num_rows)

    def __enter__(self) -> Any:
        if not self._enabled:
            return lambda done: None
        from rich.console import Console
        from rich.progress import Progress

        self._bar = Progress(console=Console(stderr=True), transient=True)
        self._bar.start()
        task = self._bar.add_task("profiling", total=self._total)
        return lambda done: self._bar.update(task, completed=done)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


# ---------------------------------------------------------------------- columns → builder


class _Profiler:
    def __init__(
        self,
        model: str,
        *,
        outputs: frozenset[str],
        text: frozenset[str],
        exclude: frozenset[str],
        top_k: int,
        max_features: int,
    ) -> None:
        self._builder = ProfileBuilder(model, top_k=top_k, max_features=max_features, warmup=_WARMUP)
        self._outputs, self._text, self._exclude = outputs, text, exclude
        self._kinds: dict[str, str] = {}  # column → numeric | bool | categorical | text | skip
        self.skipped: set[str] = set()
        self._now = time.time()

    def add(self, batch: pa.RecordBatch) -> None:
        table = pa.Table.from_batches([batch])
        while any(pa.types.is_struct(f.type) for f in table.schema):
            table = table.flatten()  # {"a": {"b": 1}} → column "a.b", as the live generic codec names it
        moment_names: list[str] = []
        moment_cols: list[np.ndarray] = []
        for name, column in zip(table.column_names, table.columns, strict=True):
            if name in self._exclude:
                continue
            kind = self._kinds.get(name) or self._decide(name, column)
            key: FeatureKey = ("output" if name in self._outputs else "input", name)
            if kind == "numeric":
                values = _floats(column)  # nulls become NaN here; a real NaN is counted as NaN, not missing
                self._builder.add_numeric(key, values[~_nulls(column)], missing=column.null_count)
                if key[0] == "input":
                    moment_names.append(name)
                    moment_cols.append(values)
            elif kind in ("bool", "categorical"):
                self._add_categories(key, column, kind)
            elif kind == "text":
                self._add_text(key, column)
        self._builder.add_rows(table.num_rows, self._now, self._now)
        if moment_cols:
            self._builder.add_moment_rows(moment_names, np.column_stack(moment_cols))

    def _decide(self, name: str, column: pa.ChunkedArray) -> str:
        t = column.type
        if pa.types.is_dictionary(t):
            t = t.value_type
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t) or pa.types.is_null(t):
            kind = "numeric"
        elif pa.types.is_boolean(t):
            kind = "bool"
        elif pa.types.is_string(t) or pa.types.is_large_string(t):
            kind = "text" if name in self._text or _looks_like_text(column) else "categorical"
        else:
            kind = "skip"
            self.skipped.add(name)
        self._kinds[name] = kind
        return kind

    def _add_categories(self, key: FeatureKey, column: pa.ChunkedArray, kind: str) -> None:
        counts: dict[str, int] = {}
        for item in pc.value_counts(column.drop_null()).to_pylist():
            value = item["values"]
            label = ("true" if value else "false") if kind == "bool" else category_label(str(value), None)
            counts[label] = counts.get(label, 0) + int(item["counts"])
        self._builder.add_categorical(key, counts, missing=column.null_count)

    def _add_text(self, key: FeatureKey, column: pa.ChunkedArray) -> None:
        present = column.drop_null()
        missing = column.null_count
        length = _floats(pc.utf8_length(present))
        letters = _floats(pc.count_substring_regex(present, r"\pL"))
        with np.errstate(divide="ignore", invalid="ignore"):
            stats = {
                "length": length,
                "tokens": _floats(pc.count_substring_regex(present, _TOKEN)),
                "non_ascii_share": np.where(
                    length > 0, _floats(pc.count_substring_regex(present, r"[^\x00-\x7f]")) / length, 0.0
                ),
                "digit_share": np.where(
                    length > 0, _floats(pc.count_substring_regex(present, r"\p{Nd}")) / length, 0.0
                ),
                "upper_share": np.where(
                    letters > 0, _floats(pc.count_substring_regex(present, r"\p{Lu}")) / letters, 0.0
                ),
            }
        for suffix, values in stats.items():
            self._builder.add_numeric((key[0], f"{key[1]}.{suffix}"), values, kind="text", missing=missing)

    def build(self) -> Profile:
        profile = self._builder.build(decide=True)
        if profile.n == 0:
            raise ProfileError("the data has no rows")
        if not profile.kinds:
            raise ProfileError("the data has no usable columns (numbers, booleans or strings)")
        profile.source = "profile"
        profile.created = self._now
        return profile


def _floats(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Column → float64 with nulls as NaN."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_null(column.type):
        return np.full(len(column), np.nan)
    return np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _nulls(column: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.is_null(column).to_numpy(zero_copy_only=False), dtype=bool)


def _looks_like_text(column: pa.ChunkedArray) -> bool:
    sample = column.drop_null().slice(0, 2048).to_pylist()
    if not sample:
        return False
    median = sorted(sample, key=len)[len(sample) // 2]
    return len(median) >= TEXT_MIN_MEDIAN_LENGTH and " " in median


# ---------------------------------------------------------------------- upload


def _push(admin_url: str, model: str, document: dict[str, Any]) -> dict[str, Any]:
    url = admin_url.rstrip("/") + "/v1/reference?" + urllib.parse.urlencode({"model": model})
    headers = {"Content-Type": "application/json"}
    token = os.environ.get("SIDECAR_ADMIN_TOKEN", "")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(document).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        detail = _error_detail(exc.read())
        raise SidecarError(f"upload to {admin_url} failed: HTTP {exc.code}{detail}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SidecarError(f"cannot reach {admin_url}: {reason}") from exc
    try:
        answer = json.loads(body)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _error_detail(body: bytes) -> str:
    try:
        doc = json.loads(body)
    except ValueError:
        return ""
    if isinstance(doc, dict) and doc.get("error"):
        return f" ({doc['error']}: {doc.get('detail', '')})"
    return ""
