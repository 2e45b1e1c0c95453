"""Every command says which Damselfly it is (``-V``/``--version``, as Dragonfly's Rust
client does), and exits 0 without starting anything."""

from __future__ import annotations

import subprocess
import sys

import pytest

from damselfly import __version__

COMMANDS = {
    "dfget": "damselfly.cli.dfget",
    "dfdaemon": "damselfly.daemon",
    "scheduler": "damselfly.scheduler",
    "damselfly": "damselfly.cli.umbrella",
}


@pytest.mark.parametrize("flag", ["-V", "--version"])
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_command_prints_its_version(name: str, flag: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", COMMANDS[name], flag],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{name} {__version__}"
