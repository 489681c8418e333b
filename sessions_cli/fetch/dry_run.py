"""`--dry-run`: list the planned requests and estimate the duration from the rate limit."""

from __future__ import annotations

from collections import Counter
from typing import IO, TYPE_CHECKING
from urllib.parse import urlsplit

from sessions_cli.exit_codes import ExitCode
from sessions_cli.fetch.inputs import InputReader
from sessions_cli.fetch.options import sustained_rate
from sessions_cli.fetch.plan import FetchPlan
from sessions_cli.fetch.runner import effective_spec

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["dry_run", "estimate_seconds", "scope_of"]


def scope_of(url: str, limit_by: str) -> str:
    """The rate-limit scope a URL falls in: its host, its endpoint, or one global scope."""
    if limit_by == "global":
        return "*"
    parts = urlsplit(url)
    return parts.netloc if limit_by == "host" else f"{parts.scheme}://{parts.netloc}{parts.path}"


def estimate_seconds(counts: Counter[str], rate: float, burst: float) -> float:
    """Lower bound of the run time: the busiest scope sends `burst` at once, then `rate` per second."""
    busiest = max(counts.values(), default=0)
    return max(busiest - burst, 0) / rate if rate > 0 else 0.0


def dry_run(plan: FetchPlan, *, console: Console, stdout: IO[str]) -> ExitCode:
    """Print `METHOD URL` per planned request (stdout) and the estimate (stderr)."""
    limit_by = "host"
    if plan.ratelimit is not None:
        limit_by = (
            "host"
            if plan.ratelimit["per_host"]
            else "endpoint"
            if plan.ratelimit["per_endpoint"]
            else "global"
        )
    counts: Counter[str] = Counter()
    planned = malformed = 0
    with InputReader(plan.urls, plan.inputs, plan.input_format) as reader:
        for item in reader:
            if item.spec is None:
                malformed += 1
                console.print(f"skip: {item.error}", highlight=False, markup=False)
                continue
            spec = effective_spec(item.spec, plan)
            stdout.write(f"{spec.method or 'GET'} {spec.url}\n")
            counts[scope_of(spec.url, limit_by)] += 1
            planned += 1
    console.print(_estimate_line(plan, counts, planned, malformed), highlight=False, markup=False)
    return ExitCode.OK


def _estimate_line(plan: FetchPlan, counts: Counter[str], planned: int, malformed: int) -> str:
    head = f"{planned} requests planned" + (f", {malformed} malformed inputs" if malformed else "")
    if plan.ratelimit is None:
        return f"{head}; no rate limit: the duration depends on the servers (concurrency {plan.concurrency})"
    rate, burst = sustained_rate(plan.ratelimit)
    seconds = estimate_seconds(counts, rate, burst)
    return (
        f"{head} over {len(counts)} rate-limit scope(s); at {rate:g} req/s per scope (burst {burst:g}) "
        f"the run takes at least {seconds:.1f}s"
    )
