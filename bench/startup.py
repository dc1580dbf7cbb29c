"""Start-up benchmark: how long `winnow --help`, `import winnow` and a few `winnow VERB --help`
take, and how many modules they load.

    python bench/startup.py [--runs 11] [--before /work/main/.venv] [--pyc]

Each command runs --runs times in a fresh process; the table shows the median wall time,
the median CPU time (user + system of the process: steadier than wall on a shared
machine), the modules loaded (len(sys.modules) at the end, in a run of its own) and which
of the heavy packages were among them (HEAVY; none should be). --before VENV runs the same
commands with another environment's `python` and `winnow` (e.g. a checkout of main), in
the same loop, so that both see the same load. Every command runs in / (not in a checkout,
whose `winnow/` folder would be imported instead of the environment's). The command's own watchdog (lake/processes.py)
is a process apart and is not counted.

Python compiles a module's source on each import when its bytecode cache is missing, as it
is for a checkout's own modules when PYTHONDONTWRITEBYTECODE is set (the test machines set
it). --pyc runs every command with caches, as after a pip install: written by the first,
unmeasured run into a temporary PYTHONPYCACHEPREFIX (so no checkout gets a __pycache__).
"""

from __future__ import annotations

import sys  # noqa: I001  (first: bench/select.py must not shadow the stdlib `select` that subprocess imports)
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]

import argparse  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

from measure import commands_env  # noqa: E402

HEAVY = ("lance", "pyarrow", "duckdb", "numpy", "pandas", "torch", "transformers", "sentence_transformers",
         "sklearn", "matplotlib", "torchtitan", "lancedb", "fastapi", "uvicorn", "ray", "altair", "vl_convert",
         "tokenizers", "tiktoken", "sentencepiece", "rensa", "fastwarc", "resiliparse")

COMMANDS = {  # name -> the arguments of `winnow`, or None for `python -c "import winnow"`
    "winnow --help": ["--help"],
    'python -c "import winnow"': None,
    "winnow score --help": ["score", "--help"],
    "winnow select create --help": ["select", "create", "--help"],
    "winnow sql --help": ["sql", "--help"],
}

# what a command loaded, run the way the `winnow` script runs it
PROBE = """
import sys
args = {args!r}
try:
    if args is None:
        import winnow
    else:
        from winnow.cli import main
        main(args)
except SystemExit:
    pass
heavy = [m for m in {heavy!r} if m in sys.modules]
print(len(sys.modules), ",".join(heavy) or "-", file=sys.stderr)
"""


def timed(cmd: list[str], env: dict) -> tuple[float, float]:
    """Wall and CPU seconds of one run of `cmd`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def command(venv: Path, args: list[str] | None) -> list[str]:
    return [str(venv / "bin" / "python"), "-c", "import winnow"] if args is None else [str(venv / "bin" / "winnow"), *args]


def modules(venv: Path, args: list[str] | None, env: dict) -> tuple[int, str]:
    done = subprocess.run([str(venv / "bin" / "python"), "-c", PROBE.format(args=args, heavy=HEAVY)], env=env, cwd="/",
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True)
    count, heavy = done.stderr.strip().splitlines()[-1].split(" ", 1)
    return int(count), heavy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--before", type=Path, help="another environment (its bin/python, bin/winnow) to compare with")
    ap.add_argument("--pyc", action="store_true", help="run with bytecode caches (in a temporary folder)")
    args = ap.parse_args()
    with commands_env(args.pyc, "startup") as env:
        here = Path(sys.prefix)  # the environment running this script
        venvs = {"after": here} if args.before is None else {"before": args.before, "after": here}
        for argv in COMMANDS.values():  # once each, unmeasured: the files in the page cache (and --pyc's caches)
            for venv in venvs.values():
                subprocess.run(command(venv, argv), env=env, cwd="/", stdout=subprocess.DEVNULL, check=True)
        times = {(name, label): [] for name in COMMANDS for label in venvs}
        for _ in range(args.runs):  # interleaved: every command and environment sees the same load
            for name, argv in COMMANDS.items():
                for label, venv in venvs.items():
                    times[name, label].append(timed(command(venv, argv), env))
        print(f"{args.runs} runs each, median; {os.cpu_count()} cores, load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; bytecode caches: "
              f"{'all, in ' + env['PYTHONPYCACHEPREFIX'] if args.pyc else 'as found'}"
              f"{' (PYTHONDONTWRITEBYTECODE set)' if env.get('PYTHONDONTWRITEBYTECODE') else ''}")
        print(f"{'command':<30} {'env':<7} {'wall s':>7} {'cpu s':>7} {'modules':>8}  heavy modules loaded")
        for name, argv in COMMANDS.items():
            for label, venv in venvs.items():
                walls, cpus = zip(*times[name, label])
                count, heavy = modules(venv, argv, env)
                print(f"{name:<30} {label:<7} {statistics.median(walls):>7.3f} {statistics.median(cpus):>7.3f} "
                      f"{count:>8}  {heavy}")


if __name__ == "__main__":
    main()
