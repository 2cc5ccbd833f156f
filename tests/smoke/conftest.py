"""Shared fixtures of the smoke tests."""

from __future__ import annotations

import sys

import pytest

from unmirage.cli import main


@pytest.fixture
def cli(monkeypatch):
    """Run `unmirage ARGS...` in this process; returns the exit code (0 on success)."""

    def run(*args: str) -> int:
        monkeypatch.setattr(sys, "argv", ["unmirage", *args])
        try:
            main()
        except SystemExit as e:
            return e.code or 0
        return 0

    return run
