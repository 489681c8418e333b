"""Tests of the `sessions` CLI (sessions_cli/)."""
