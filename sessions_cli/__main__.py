"""`python -m sessions_cli` — same as the `sessions` console script."""

from __future__ import annotations

from sessions_cli.app import main

if __name__ == "__main__":
    main()
