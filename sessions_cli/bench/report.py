"""The bench report: a Rich table, the JSON document (with a validator) and `--compare` against a baseline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.table import Table

__all__ = [
    "REPORT_VERSION",
    "Regression",
    "cells_table",
    "compare",
    "compare_table",
    "throughput_table",
    "validate_report",
]

REPORT_VERSION = 1

_CELL_FIELDS: dict[str, type | tuple[type, ...]] = {
    "algorithm": str,
    "backend": str,
    "mode": str,
    "params": dict,
    "requests": int,
    "expected_min_s": (int, float),
    "duration_s": (int, float),
    "rate_per_s": (int, float, type(None)),
    "bound_window_s": (int, float),
    "bound_count": int,
    "max_in_window": int,
    "max_in_window_strict": int,
    "window_slack_s": (int, float),
    "overshoot": int,
    "counted_on": str,
    "overhead_us": (int, float, type(None)),
    "latency_p50_ms": (int, float, type(None)),
    "latency_p99_ms": (int, float, type(None)),
    "errors": int,
    "passed": bool,
    "problems": list,
}
_THROUGHPUT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "mode": str,
    "requests": int,
    "concurrency": int,
    "duration_s": (int, float),
    "rate_per_s": (int, float),
    "errors": int,
}
_TOP_FIELDS: dict[str, type | tuple[type, ...]] = {
    "version": int,
    "kind": str,
    "target": str,
    "embedded": bool,
    "seed": (int, type(None)),
    "tolerance_s": (int, float),
    "passed": bool,
}


def _check_fields(data: Mapping[str, Any], fields: Mapping[str, Any], where: str) -> list[str]:
    problems = []
    for name, kind in fields.items():
        if name not in data:
            problems.append(f"{where}: missing {name!r}")
        elif not isinstance(data[name], kind) or (kind is int and isinstance(data[name], bool)):
            problems.append(f"{where}.{name}: unexpected type {type(data[name]).__name__}")
    return problems


def validate_report(data: Any) -> list[str]:
    """Problems with a bench JSON document (empty when it is well formed)."""
    if not isinstance(data, dict):
        return ["the report must be a JSON object"]
    problems = _check_fields(data, _TOP_FIELDS, "report")
    if data.get("version") != REPORT_VERSION:
        problems.append(f"report.version: expected {REPORT_VERSION}")
    kind, fields = (
        ("cells", _CELL_FIELDS) if data.get("kind") == "limits" else ("throughput", _THROUGHPUT_FIELDS)
    )
    rows = data.get(kind)
    if not isinstance(rows, list) or not rows:
        return [*problems, f"report.{kind}: expected a non-empty list"]
    for position, row in enumerate(rows):
        problems += (
            _check_fields(row, fields, f"{kind}[{position}]")
            if isinstance(row, dict)
            else [f"{kind}[{position}]: expected an object"]
        )
    if kind == "cells" and data.get("passed") != all(
        row.get("passed") for row in rows if isinstance(row, dict)
    ):
        problems.append("report.passed disagrees with the cells")
    return problems


# --- tables -----------------------------------------------------------------------------------


def _params(params: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def cells_table(cells: Sequence[Mapping[str, Any]]) -> Table:
    """One row per cell; the verdict in the last column."""
    table = Table(title="rate-limit bench", header_style="bold")
    for name, justify in [
        ("algorithm", "left"), ("backend", "left"), ("mode", "left"), ("params", "left"),
        ("n", "right"), ("expected ≥", "right"), ("actual", "right"), ("rate/s", "right"),
        ("max/window", "right"), ("over", "right"), ("limiter µs", "right"),
        ("p50 ms", "right"), ("p99 ms", "right"), ("err", "right"), ("", "left"),
    ]:  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for cell in cells:
        verdict = "[green]PASS[/green]" if cell["passed"] else "[red]FAIL[/red]"
        table.add_row(
            cell["algorithm"], cell["backend"], cell["mode"], _params(cell["params"]), str(cell["requests"]),
            f"{cell['expected_min_s']:.2f}s", f"{cell['duration_s']:.2f}s", _num(cell["rate_per_s"], ".2f"),
            f"{cell['max_in_window']}/{cell['bound_count']} in {cell['bound_window_s']:g}s"
            + ("" if cell["counted_on"] == "server" else " (client)"),
            str(cell["overshoot"]), _num(cell["overhead_us"], ".0f"), _num(cell["latency_p50_ms"], ".2f"),
            _num(cell["latency_p99_ms"], ".2f"), str(cell["errors"]), verdict,
        )  # fmt: skip
    return table


def throughput_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """One row per throughput mode."""
    table = Table(title="throughput (no limiter)", header_style="bold")
    for name in ("mode", "workers", "n", "c", "duration", "req/s", "p50 ms", "p90 ms", "p99 ms", "errors"):
        table.add_column(name, justify="left" if name == "mode" else "right")
    for row in rows:
        table.add_row(
            row["mode"], str(row.get("workers", 1)), str(row["requests"]), str(row["concurrency"]),
            f"{row['duration_s']:.2f}s",
            f"{row['rate_per_s']:.0f}", _num(row.get("latency_p50_ms"), ".2f"),
            _num(row.get("latency_p90_ms"), ".2f"), _num(row.get("latency_p99_ms"), ".2f"),
            str(row["errors"]),
        )  # fmt: skip
    return table


# --- compare ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Regression:
    """A metric that got worse than the baseline by more than the noise threshold."""

    cell: str
    metric: str
    baseline: float
    current: float
    change: float
    regressed: bool


def _key(row: Mapping[str, Any]) -> str:
    return "/".join(str(row[k]) for k in ("algorithm", "backend", "mode") if k in row) or str(row.get("mode"))


# metric → +1 when bigger is worse, -1 when smaller is worse
_LIMIT_METRICS = {"overshoot": 1, "overhead_us": 1, "latency_p99_ms": 1}
_THROUGHPUT_METRICS = {"rate_per_s": -1, "latency_p99_ms": 1}


def _change(metric: str, direction: int, old: float, new: float, noise: float) -> tuple[float, bool]:
    if metric == "overshoot":
        return float(new - old), new > old  # any new overshoot is a regression, never noise
    change = (new - old) / old if old else 0.0
    return change, direction * change > noise


def compare(current: Mapping[str, Any], baseline: Mapping[str, Any], noise: float) -> list[Regression]:
    """Metric changes of every cell present in both reports (`regressed` beyond `noise`, a ratio)."""
    kind, metrics = (
        ("cells", _LIMIT_METRICS) if current.get("kind") == "limits" else ("throughput", _THROUGHPUT_METRICS)
    )
    old_rows = {_key(row): row for row in baseline.get(kind, [])}
    found = []
    for row in current.get(kind, []):
        old = old_rows.get(_key(row))
        if old is None:
            continue
        for metric, direction in metrics.items():
            if isinstance(row.get(metric), int | float) and isinstance(old.get(metric), int | float):
                change, regressed = _change(metric, direction, old[metric], row[metric], noise)
                found.append(Regression(_key(row), metric, old[metric], row[metric], change, regressed))
    return found


def compare_table(changes: Sequence[Regression], noise: float) -> Table:
    """The changes against the baseline; regressions in red."""
    table = Table(title=f"compared with the baseline (noise threshold {noise:.0%})", header_style="bold")
    for name in ("cell", "metric", "baseline", "now", "change", ""):
        table.add_column(name, justify="left" if name in ("cell", "metric", "") else "right")
    for c in changes:
        shown = f"{c.change:+.0f}" if c.metric == "overshoot" else f"{c.change:+.1%}"
        verdict = "[red]REGRESSION[/red]" if c.regressed else ""
        table.add_row(c.cell, c.metric, f"{c.baseline:g}", f"{c.current:g}", shown, verdict)
    return table
