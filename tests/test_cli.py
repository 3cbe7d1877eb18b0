"""The ``inline-ai`` dispatcher."""

import subprocess
import sys

from inline_ai.cli import COMMANDS, main


def test_help_lists_every_command(capsys) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_unknown_command_fails_with_usage(capsys) -> None:
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_console_script_entry_point_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "inline_ai", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip()
