"""A mistyped command line gets click's one-line usage error, not a traceback."""

from __future__ import annotations

import sys

import pytest

from unmirage import cli


@pytest.mark.parametrize("argv", [["run", "--no-such-option"], ["run", "-q"], ["no-such-command"]])
def test_a_usage_error_is_one_message_and_exit_2(argv, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["unmirage", *argv])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "No such option" in err or "No such command" in err
