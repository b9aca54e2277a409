"""One exit-code table: its numbers never change, every error takes its code
from it, and the command line's help says the same."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import cli
import meshpantry
from cli.main import EPILOG
from meshpantry.exit_codes import ExitCode
from meshpantry.pantry import errors as pantry_errors
from meshpantry.passphrase import PASSPHRASE_ENV, read_passphrase

ROOT = Path(meshpantry.__file__).parent.parent


def test_the_numbers_scripts_rely_on_are_kept():
    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0, "FAILED": 1, "USAGE": 2, "NO_IDENTITY": 3, "UNKNOWN_ID": 4,
        "UNAVAILABLE": 5, "REFUSED": 6, "DAMAGED": 7, "INTERRUPTED": 130,
    }


def test_every_pantry_error_takes_its_code_from_the_table():
    classes = [c for c in vars(pantry_errors).values()
               if isinstance(c, type) and issubclass(c, pantry_errors.PantryError)]
    assert len(classes) > 10
    for cls in classes:
        assert isinstance(cls.exit_code, ExitCode), cls


def test_help_lists_every_code():
    for code in ExitCode:
        assert f"{int(code)} " in EPILOG


def _literal_exit_codes(path: Path) -> list[str]:
    """``return 5`` / ``sys.exit(2)`` / ``exit_code = 3`` with a bare number."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        value = None
        if isinstance(node, ast.Return):
            value = node.value
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", getattr(t, "attr", "")) == "exit_code" for t in node.targets):
            value = node.value
        if isinstance(value, ast.Constant) and type(value.value) is int and value.value != 0:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


@pytest.mark.parametrize("where", ["cli", "meshpantry/control", "meshpantry/pantry/errors.py", "meshpantry/node/runner.py"])
def test_no_exit_code_is_written_as_a_bare_number(where):
    target = ROOT / where
    paths = [target] if target.is_file() else sorted(target.rglob("*.py"))
    offenders = [hit for path in paths for hit in _literal_exit_codes(path)
                 if "tui" not in path.parts]  # the UI returns counts and widths, not statuses
    assert offenders == []


def test_passphrase_comes_from_the_file_then_the_environment(tmp_path):
    secret = tmp_path / "pass"
    secret.write_text("correct horse\n")
    assert read_passphrase(secret, {PASSPHRASE_ENV: "other"}) == "correct horse"
    assert read_passphrase(None, {PASSPHRASE_ENV: "other"}) == "other"
    assert read_passphrase(None, {}) is None
    with pytest.raises(pantry_errors.PassphraseUnreadable, match="cannot read the passphrase file"):
        read_passphrase(tmp_path / "missing", {})


def test_an_unreadable_passphrase_file_exits_1_for_commands_and_the_node(founded, tmp_path):
    missing = str(tmp_path / "no-such-file")
    for argv in (("whoami",), ("node", "--listen", "127.0.0.1:0", "--no-mdns")):
        code, _, err = founded.run(*argv, "--passphrase-file", missing)
        assert code == ExitCode.FAILED, argv
        assert "cannot read the passphrase file" in err


def test_the_readme_lists_every_code():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    sentence = readme[readme.index("Exit codes"):].split("\n\n")[0]
    for code in ExitCode:
        assert f"{int(code)} " in sentence, code


def test_no_neighbourhood_yet_exits_3_and_status_says_so(household):
    """Before founding or joining: listings and writes exit 3 (as the README
    says), and `status` answers, naming the two ways in."""
    h = household("early")
    assert h.run("init", "--household", "Early")[0] == 0
    for argv in (("offer", "list"), ("log",), ("neighbourhood", "show"), ("offer", "add", "rice", "1", "kg")):
        code, _, err = h.run(*argv)
        assert code == ExitCode.NO_IDENTITY and "not in a neighbourhood yet" in err, argv
    code, out, _ = h.run("status")
    assert code == 0 and "neighbourhood none yet" in out


def test_ctrl_c_on_the_node_exits_130(founded):
    """SIGINT stops the node cleanly with 130 (interrupted); SIGTERM with 0."""
    import signal
    import subprocess

    from cli.tui.node_process import node_command, wait_for_socket_blocking

    argv = node_command(founded.data_dir, ("--network", "loopback", "--listen", "127.0.0.1:0", "--no-mdns"))
    for signum, expected in ((signal.SIGINT, ExitCode.INTERRUPTED), (signal.SIGTERM, ExitCode.OK)):
        node = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        try:
            wait_for_socket_blocking(founded.data_dir, node)
            node.send_signal(signum)
            assert node.wait(30) == expected, signum
        finally:
            if node.poll() is None:
                node.kill()
                node.wait()
