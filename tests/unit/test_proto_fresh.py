"""The committed generated gRPC code matches proto/ (``make proto`` regenerates it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_code_is_fresh() -> None:
    env = dict(os.environ)
    # protoc finds the protoc-gen-mypy plugins on PATH, next to this interpreter.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_proto.py"), "--check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, (
        f"generated code is stale or protoc failed; run `make proto`\n"
        f"{result.stdout}\n{result.stderr}"
    )
