"""A mistyped command line gets click's one-line usage error, not a traceback."""

from __future__ import annotations

import sys

import pytest

from unmirage import cli


def _main(argv, monkeypatch, capsys) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["unmirage", *argv])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    return exit_info.value.code, capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [(["run", "--no-such-option"], "No such option"),
                                           (["run", "-q"], "No such option"),
                                           (["no-such-command"], "No such command"),
                                           (["report"], "Missing argument")])
def test_a_usage_error_is_one_message_and_exit_2(argv, message, monkeypatch, capsys):
    code, err = _main(argv, monkeypatch, capsys)
    assert code == 2
    assert "Traceback" not in err
    assert message in err


def test_without_the_installed_click(monkeypatch, capsys):
    """typer no longer needs click itself: the handler must not import it unconditionally."""
    monkeypatch.setitem(sys.modules, "click", None)
    monkeypatch.setitem(sys.modules, "click.exceptions", None)
    code, err = _main(["no-such-command"], monkeypatch, capsys)
    assert code == 2
    assert "No such command" in err


def test_ctrl_c_exits_130_with_a_message(monkeypatch, capsys):
    """An interrupted command must not exit 0 (typer returns its Exit code in non-standalone mode)."""
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "load_config", interrupted)  # `ls` reads the default config last
    code, err = _main(["ls"], monkeypatch, capsys)
    assert code == cli.INTERRUPTED
    assert "Traceback" not in err and "interrupted" in err


def test_a_finished_command_exits_0(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["unmirage", "ls"])
    cli.main()  # returns: no SystemExit
    assert "methods:" in capsys.readouterr().out
