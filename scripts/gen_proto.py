"""Regenerate the committed protobuf/gRPC code from proto/ (``make proto``).

protoc names generated modules after the proto package (``damselfly.common.v1``); we
commit them under ``damselfly.api.gen`` so imports are rewritten to that prefix.
``--check`` regenerates into a temporary folder and fails when the committed code differs.
"""

from __future__ import annotations

import argparse
import filecmp
import re
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
TARGET = ROOT / "src" / "damselfly" / "api" / "gen"
_IMPORT_RE = re.compile(r"^(from|import) damselfly\.(common|scheduler|dfdaemon)\.", re.MULTILINE)


def generate(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    include = Path(protoc.__file__).parent / "_proto"
    sources = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    generated = out / "damselfly"
    for path in sorted(generated.rglob("*")):
        if path.is_file():
            text = _IMPORT_RE.sub(r"\1 damselfly.api.gen.\2.", path.read_text())
            dest = out / path.relative_to(generated)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text)
    shutil.rmtree(generated)
    for folder in [out, *(p for p in out.rglob("*") if p.is_dir())]:
        init = folder / "__init__.py"
        if not init.exists():
            init.write_text("")


def differences(left: Path, right: Path) -> list[str]:
    found: list[str] = []
    cmp = filecmp.dircmp(left, right, ignore=["__pycache__"])
    found += [f"only in committed: {n}" for n in cmp.left_only]
    found += [f"missing from committed: {n}" for n in cmp.right_only]
    found += [f"differs: {n}" for n in cmp.diff_files]
    for name in cmp.common_dirs:
        found += differences(left / name, right / name)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when committed code is stale")
    args = parser.parse_args()
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = Path(tmp) / "gen"
            generate(fresh)
            stale = differences(TARGET, fresh)
        if stale:
            print("generated code is stale; run `make proto`:", *stale, sep="\n  ")
            return 1
        return 0
    if TARGET.exists():
        shutil.rmtree(TARGET)
    generate(TARGET)
    return 0


if __name__ == "__main__":
    sys.exit(main())
