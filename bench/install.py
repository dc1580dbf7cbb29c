"""The light core against the full install: time and size of each, in fresh virtualenvs.

    python bench/install.py [--keep DIR]

1. core: winnow's wheel (built here, `pip wheel --no-deps .`) installed with only its core
   dependencies (`pip install winnow-*.whl`): no torch.
2. full: what the README's `make quickstart` installs, without the test tools: torch 2.14.1
   first (the CUDA build on local disk, as the Makefile does), then `winnow-*.whl[all]`.
Each is timed from `python -m venv` to the end of pip, with pip's cache as this machine has it
(wheels downloaded before are not downloaded again: the figures are installs, not downloads),
and measured with `du` (MB in the virtualenv). Printed: both, and the ratios full / core.
"""

from __future__ import annotations

import sys  # noqa: I001  (first: bench/select.py must not shadow the stdlib `select` that subprocess imports)
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import argparse  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> None:
    proc = subprocess.run(list(args), capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"error: {' '.join(args)} failed:\n{proc.stderr[-2000:]}")


def size_mb(folder: Path) -> int:
    return int(subprocess.run(["du", "-sm", str(folder)], capture_output=True, text=True).stdout.split()[0])


def install(venv: Path, *requirements: list[str]) -> tuple[float, int, int]:
    """Seconds, MB and packages of a fresh virtualenv with each list of requirements installed in turn."""
    t0 = time.perf_counter()
    run(sys.executable, "-m", "venv", str(venv))
    for reqs in requirements:
        run(str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *reqs)
    seconds = time.perf_counter() - t0
    listed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
                            capture_output=True, text=True).stdout.split()
    return seconds, size_mb(venv), len(listed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="keep the virtualenvs in this folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="winnow-install-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    try:
        run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work / "dist"), str(ROOT))
        wheel = next((work / "dist").glob("winnow-*.whl"))
        print(f"wheel: {wheel.name} ({wheel.stat().st_size / 1024:.0f} KiB)")
        core = install(work / "core", [str(wheel)])
        print(f"core: {core[0]:.0f} s, {core[1]:,} MB, {core[2]} packages")
        full = install(work / "full", ["torch==2.14.1"], [f"{wheel}[all]"])
        print(f"full: {full[0]:.0f} s, {full[1]:,} MB, {full[2]} packages (torch 2.14.1 CUDA build + [all])")
        print(f"full / core: {full[0] / core[0]:.1f}x the time, {full[1] / core[1]:.1f}x the size")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
