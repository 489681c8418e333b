"""Every `sessions fetch` example of the README's CLI section runs as written against the embedded
httpbin (only the host, the file contents and `$TOKEN` substituted), and every flag the section
names is one `sessions fetch --help` lists."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from sessions.httpbin import LocalHttpbin
from sessions_cli.exit_codes import ExitCode
from tests.cli.conftest import invoke

pytestmark = pytest.mark.usefixtures("isolated")

README = Path(__file__).resolve().parents[2] / "README.md"


def _fetch_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("### Command line: `sessions fetch`")
    section = text[start : text.index("### Recipes:", start)]
    cache = section.index("`sessions cache stats")  # the `sessions cache` command's own flags
    return section[:cache] + section[section.index("\n\n", cache) :]


def _examples() -> list[str]:
    section = _fetch_section()
    block = section[
        section.index("```bash") + len("```bash") : section.index("```", section.index("```bash") + 7)
    ]
    return [line.split("  #")[0].strip() for line in block.strip().splitlines() if "sessions fetch" in line]


def test_the_readme_has_fetch_examples() -> None:
    assert len(_examples()) >= 5


@pytest.mark.parametrize("example", _examples())
def test_readme_example_runs(example: str, httpbin: LocalHttpbin, isolated: Path) -> None:
    base = httpbin.url
    urls = [f"{base}/get?i={i}" for i in range(3)]
    (isolated / "urls.txt").write_text("\n".join(urls) + "\n", encoding="utf-8")
    (isolated / "urls.jsonl").write_text(
        "\n".join(f'{{"url": "{u}"}}' for u in urls) + "\n", encoding="utf-8"
    )
    (isolated / "rows.csv").write_text(
        "url,name\n" + "\n".join(f"{u},n{i}" for i, u in enumerate(urls)) + "\n"
    )
    (isolated / "mymod.py").write_text("def extract(response):\n    return {'n': len(response.content)}\n")
    command = example.replace("https://api.example.com", base + "/anything").replace("$TOKEN", "t0ken")
    piped = None
    if command.startswith("cat "):
        first, command = command.split("|", 1)
        piped = (isolated / shlex.split(first)[1]).read_text(encoding="utf-8")
    redirect = None
    if ">" in command:
        command, redirect = (part.strip() for part in command.split(">", 1))
    args = shlex.split(command)
    assert args[:2] == ["sessions", "fetch"]
    run = invoke(["fetch", "--no-progress", *args[2:]], input=piped)
    assert run.exit_code == ExitCode.OK, run.stderr
    assert "Traceback" not in run.stderr
    if "--dry-run" in args:
        assert run.stdout.count("GET ") == 3
        return
    out = run.stdout
    if "-o" in args:
        out = (isolated / args[args.index("-o") + 1]).read_text(encoding="utf-8")
    if redirect is not None:
        (isolated / redirect).write_text(out, encoding="utf-8")
    rows = [line for line in out.splitlines() if line.strip()]
    expected = 1 if "/anything/items" in command else 3
    assert len(rows) == expected + ("--format csv" in command)  # CSV: a header row
    assert "200" in out
    assert "Requests   " in run.stderr


def _help_flags() -> set[str]:
    text = invoke(["fetch", "--help"]).stdout
    return set(re.findall(r"--[a-z][a-z0-9-]+", text)) | set(re.findall(r"(?<![\w-])-[a-zA-Z]\b", text))


def test_every_flag_the_readme_names_is_in_help() -> None:
    section = _fetch_section()
    named = set(re.findall(r"`(--?[a-zA-Z][a-z0-9-]*)", section))
    named |= {
        flag
        for code in re.findall(r"`([^`]+)`", section)
        for flag in re.findall(r"(--[a-z][a-z0-9-]+)", code)
    }
    named -= {"--help"}
    missing = sorted(flag for flag in named if flag not in _help_flags())
    assert missing == []


def test_readme_defaults_match_help() -> None:
    section = _fetch_section()
    help_text = " ".join(invoke(["fetch", "--help"]).stdout.split())
    rows = re.findall(r"^\| `(-\w/)?(--[a-z-]+)[^`]*` \| ([^|]+) \| [^|]+ \|$", section, flags=re.M)
    assert rows
    for _, flag, default in rows:
        default = default.strip()
        if default in ("–", "off"):
            continue
        assert f"[{default}]" in help_text or f"\\[{default}]" in help_text, (flag, default)
