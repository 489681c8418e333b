"""Configuration: where each `sessions fetch` setting comes from.

Precedence, highest first:

1. command-line flags;
2. `SESSIONS_<NAME>` environment variables (e.g. `SESSIONS_CONCURRENCY=32`, `SESSIONS_RATE=5/2s`);
3. the project file: `sessions.toml` in the working directory, else `[tool.sessions]` in `pyproject.toml`;
4. the user file: `config.toml` in the platformdirs user config dir (`~/.config/sessions/` on Linux);
5. built-in defaults.

A named profile (`--profile api-x` or `SESSIONS_PROFILE`) is a `[profiles.api-x]` table in either
file (`[tool.sessions.profiles.api-x]` in pyproject.toml); its values rank above the plain values of
both files, the project's profile above the user's. `sessions config show` prints every resolved
value and where it came from.

Pure: the environment, the working directory and the user dir are passed in.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULTS",
    "SETTINGS",
    "ConfigError",
    "Resolved",
    "Setting",
    "config_files",
    "resolve",
    "unknown_env_warnings",
    "user_config_dir",
]


class ConfigError(ValueError):
    """A config file or environment variable is invalid (exit code 2)."""


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer")
    return int(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number")
    return float(value)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _to_str(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("expected a string")
    return str(value)


def _to_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [line for line in value.splitlines() if line.strip()]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise ValueError("expected a list of strings")


@dataclass(frozen=True)
class Setting:
    """A configurable setting: its converter, default and help."""

    convert: Callable[[Any], Any]
    default: Any
    help: str


SETTINGS: dict[str, Setting] = {
    "concurrency": Setting(_to_int, 10, "requests in flight (-c)"),
    "timeout": Setting(_to_str, "30s", "per-request timeout (units ms/s/m/h)"),
    "retries": Setting(_to_int, 2, "retries after a transport error or 429/5xx (Retry-After honoured)"),
    "follow": Setting(_to_bool, True, "follow redirects"),
    "http2": Setting(_to_bool, False, "use HTTP/2"),
    "insecure": Setting(_to_bool, False, "skip TLS verification (-k)"),
    "proxy": Setting(_to_str, None, "proxy URL"),
    "headers": Setting(_to_list, [], "headers for every request ('Name: value')"),
    "format": Setting(_to_str, None, "record format: jsonl or csv (a table on a TTY)"),
    "progress": Setting(_to_bool, True, "progress bar on a TTY"),
    "fail_on_status": Setting(_to_str, None, "statuses that make the exit code 1, e.g. 4xx,5xx"),
    "ratelimit": Setting(_to_str, None, "algorithm: slidingwindow fixedwindow leakybucket tokenbucket gcra"),
    "rate": Setting(_to_str, None, "shorthand rate, e.g. 5/2s (GCRA unless --ratelimit says otherwise)"),
    "limit": Setting(_to_float, None, "requests per window/period"),
    "window": Setting(_to_str, None, "window length (slidingwindow, fixedwindow)"),
    "period": Setting(_to_str, None, "period (gcra)"),
    "capacity": Setting(_to_float, None, "bucket capacity (tokenbucket, leakybucket)"),
    "fill_rate": Setting(_to_float, None, "tokens per second (tokenbucket)"),
    "leak_rate": Setting(_to_float, None, "requests per second (leakybucket)"),
    "burst": Setting(_to_float, None, "GCRA burst (default: limit)"),
    "limit_by": Setting(_to_str, "host", "limit scope: host, endpoint or global"),
    "backend": Setting(
        _to_str,
        "memory",
        "rate-limit state: memory, sqlite, redis or a server URL",
    ),
    "redis_url": Setting(_to_str, None, "Redis URL for --backend redis / --cache redis"),
    "db": Setting(_to_str, None, "SQLite file or Redis db number of the rate-limit backend"),
    "cache": Setting(_to_str, None, "cache backend: memory, sqlite, redis, or a server URL (off when unset)"),
    "cache_db": Setting(_to_str, None, "SQLite cache file (default: in the user cache dir)"),
    "expire": Setting(_to_str, None, "cache expiry, e.g. 1h, or 'never'"),
    "cache_control": Setting(_to_bool, False, "follow Cache-Control (HTTP mode) instead of --expire"),
}
DEFAULTS = {name: setting.default for name, setting in SETTINGS.items()}


@dataclass(frozen=True)
class Resolved:
    """Resolved settings: `values[name]` and `sources[name]` ("flag", "env SESSIONS_X", a file, "default")."""

    values: Mapping[str, Any]
    sources: Mapping[str, str]
    profile: str | None
    files: tuple[Path, ...]

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


def user_config_dir() -> Path:
    """The platformdirs user config dir for `sessions` (honours XDG_CONFIG_HOME)."""
    import platformdirs

    return Path(platformdirs.user_config_dir("sessions", appauthor=False))


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib  # only when a config file exists

    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def config_files(cwd: Path, user_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The config tables in effect, highest precedence first: (file, table)."""
    found: list[tuple[Path, dict[str, Any]]] = []
    if (cwd / "sessions.toml").is_file():
        found.append((cwd / "sessions.toml", _read_toml(cwd / "sessions.toml")))
    elif (cwd / "pyproject.toml").is_file():
        table = _read_toml(cwd / "pyproject.toml").get("tool", {}).get("sessions")
        if isinstance(table, dict):
            found.append((cwd / "pyproject.toml", table))
    if (user_dir / "config.toml").is_file():
        found.append((user_dir / "config.toml", _read_toml(user_dir / "config.toml")))
    return found


def _unknown(name: str, where: str) -> ConfigError:
    close = difflib.get_close_matches(name, SETTINGS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"{where}: unknown setting {name!r}{hint}")


def _convert(name: str, value: Any, where: str) -> Any:
    if name not in SETTINGS:
        raise _unknown(name, where)
    try:
        return SETTINGS[name].convert(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: bad value {value!r} for {name!r}: {exc}") from exc


def _layers(
    files: list[tuple[Path, dict[str, Any]]], profile: str | None
) -> list[tuple[str, dict[str, Any]]]:
    """(source label, values) from the files, highest precedence first."""
    profiled: list[tuple[str, dict[str, Any]]] = []
    plain: list[tuple[str, dict[str, Any]]] = []
    for path, table in files:
        profiles = table.get("profiles", {})
        if profile is not None and isinstance(profiles, dict) and profile in profiles:
            profiled.append((f"{path} [profiles.{profile}]", profiles[profile]))
        plain.append((str(path), {k: v for k, v in table.items() if k != "profiles"}))
    if profile is not None and not profiled:
        names = sorted({p for _, t in files for p in t.get("profiles", {})})
        raise ConfigError(f"--profile: no profile {profile!r} (known: {', '.join(names) or 'none'})")
    return profiled + plain


def _env_values(env: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    found = {}
    for name in SETTINGS:
        variable = f"SESSIONS_{name.upper()}"
        if variable in env and env[variable] != "":
            found[name] = (_convert(name, env[variable], variable), f"env {variable}")
    return found


# SESSIONS_* variables that are not settings but are read elsewhere (the CLI, the test suite).
OTHER_VARIABLES = frozenset({"SESSIONS_PROFILE", "SESSIONS_REQUIRE_REDIS", "SESSIONS_TEST_REDIS_URL"})


def unknown_env_warnings(env: Mapping[str, str]) -> list[str]:
    """One warning per `SESSIONS_*` variable that nothing reads (a typo is otherwise silently ignored)."""
    known = sorted({f"SESSIONS_{name.upper()}" for name in SETTINGS} | OTHER_VARIABLES)
    warnings = []
    for variable in sorted(env):
        if variable.startswith("SESSIONS_") and variable not in known:
            close = difflib.get_close_matches(variable, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            warnings.append(f"warning: unknown environment variable {variable}{hint}")
    return warnings


def resolve(
    flags: Mapping[str, Any],
    *,
    env: Mapping[str, str],
    cwd: Path,
    user_dir: Path | None = None,
    profile: str | None = None,
) -> Resolved:
    """Resolve every setting: flags (None = not given) > env > profile > files > defaults."""
    profile = profile or env.get("SESSIONS_PROFILE") or None
    files = config_files(cwd, user_dir if user_dir is not None else user_config_dir())
    values, sources = dict(DEFAULTS), dict.fromkeys(SETTINGS, "default")
    for label, table in reversed(_layers(files, profile)):
        if not isinstance(table, dict):
            raise ConfigError(f"{label}: expected a table")
        _apply(
            values, sources, {name: (_convert(name, value, label), label) for name, value in table.items()}
        )
    _apply(values, sources, _env_values(env))
    given = {name: value for name, value in flags.items() if value is not None and value != []}
    _apply(
        values,
        sources,
        {n: (_convert(n, v, f"flag --{n.replace('_', '-')}"), "flag") for n, v in given.items()},
    )
    return Resolved(values, sources, profile, tuple(path for path, _ in files))


# A rate limit is spelt either as `rate` ("5/2s") or as the algorithm's own amounts; the two spellings clash.
# A layer (a file, a profile, the environment, the flags) that uses one spelling drops the other spelling from
# the layers below: `--limit 10 --period 1s` over a file's `rate = "5/2s"` is a new limit, no contradiction,
# while amounts given in different layers still combine.
RATE_AMOUNTS = frozenset({"limit", "window", "period", "capacity", "fill_rate", "leak_rate", "burst"})


def _apply(values: dict[str, Any], sources: dict[str, str], layer: Mapping[str, tuple[Any, str]]) -> None:
    """Put one layer's settings over the ones below it (see `RATE_AMOUNTS`)."""
    overridden = RATE_AMOUNTS if "rate" in layer else {"rate"} if not RATE_AMOUNTS.isdisjoint(layer) else ()
    for name in overridden:
        values[name], sources[name] = DEFAULTS[name], "default"
    for name, (value, label) in layer.items():
        values[name], sources[name] = value, label
