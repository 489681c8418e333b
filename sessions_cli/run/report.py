"""The end-of-run report (stderr): per-step outcome, assertion failures, then fetch's summary."""

from __future__ import annotations

from rich.markup import escape

from sessions_cli.fetch.summary import render_summary
from sessions_cli.run.runner import RunResult, StepReport

__all__ = ["render_report"]

_SHOWN_FAILURES = 5


def _step_line(report: StepReport) -> str:
    step = report.step
    mark = "[red]FAIL[/red]" if report.failed else "[green]ok[/green]"
    failed = len(report.failures)
    parts = [f"{report.requests} request(s)"]
    if failed:
        parts.append(f"{failed} failed assertions")
    if report.transport_errors:
        parts.append(f"{report.transport_errors} transport error(s)")
    if report.template_errors:
        parts.append(f"{len(report.template_errors)} template error(s)")
    return f"{mark}  step {step.index + 1} {escape(step.name)}: {', '.join(parts)}"


def _failure_lines(report: StepReport) -> list[str]:
    lines = []
    for iteration, messages in report.failures[:_SHOWN_FAILURES]:
        where = f"iteration {iteration}" if iteration is not None else "response"
        lines += [f"      {where}: {escape(message)}" for message in messages]
    lines += [f"      {escape(message)}" for message in report.template_errors[:_SHOWN_FAILURES]]
    hidden = len(report.failures) - _SHOWN_FAILURES
    if hidden > 0:
        lines.append(f"      … and {hidden} more failing iteration(s) (see the records)")
    return lines


def render_report(result: RunResult) -> list[str]:
    """Lines for the console: one per step with its failures, the stop reason, then the summary."""
    lines: list[str] = []
    for report in result.steps:
        lines.append(_step_line(report))
        lines += _failure_lines(report)
    if result.stopped_after is not None:
        lines.append(f"[yellow]stopped after step {escape(result.stopped_after)!r} failed[/yellow]")
    lines += [escape(line) for line in render_summary(result.summary.to_dict(), histogram=False)]
    return lines
