"""Install weight: what ``scripts/setup.sh EXTRAS`` installs, and what it costs at start-up.

For each EXTRAS argument, a copy of the source tree (the working tree's tracked files, or
``--rev``'s) gets a fresh ``.venv`` from that tree's own ``scripts/setup.sh EXTRAS``, with a
fresh cache directory for the people environment.  Reported per install:

- wall time of ``setup.sh`` and the size of ``.venv`` (files' bytes, each inode once, MB =
  10^6 bytes) and of the people environment when one was made;
- the OpenCV distributions installed, whether ``cv2`` imports, its GUI backend (``NONE`` for a
  headless build) and whether any shared library under ``cv2`` or the OpenCV wheels' bundled
  libraries needs libGL; whether torch is installed;
- ``import vidscope``: the median wall time of ``--repeat`` fresh interpreters, and its
  cumulative time from ``-X importtime``;
- ``vidscope analyzers``: the median wall time of ``--repeat`` runs, and which heavy modules
  (torch, transformers, cv2, onnxruntime, scipy) that command imports.

Installs read wheels from pip's configured indexes and cache, so times are those of a warm
local cache, not of a first download.  ``core`` stands for no extras (``setup.sh ""``).

    python3 bench/bench_install.py all                    # the default install
    python3 bench/bench_install.py all --rev HEAD~5       # an earlier revision's
    python3 bench/bench_install.py core shots speech vision export server url ray vlm people
    python3 bench/bench_install.py all --work /tmp/new --keep   # then, with an earlier one kept:
    python3 bench/bench_install.py --startup /tmp/old/all /tmp/new/all --repeat 20
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "cv2", "onnxruntime", "scipy")
MB = 1e6
STARTUP = ("import_s", "analyzers_s")


def tree_size(path: Path) -> int:
    """Bytes of the regular files under ``path``, each inode counted once, links not followed."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            st = os.lstat(os.path.join(folder, name))
            if (st.st_dev, st.st_ino) not in seen and not os.path.islink(
                os.path.join(folder, name)
            ):
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def copy_tree(rev: str | None, dest: Path) -> None:
    """The tracked files of the working tree (as they are on disk), or of revision ``rev``."""
    if rev is not None:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", rev],
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(dest, filter="tar")
        return
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def wall(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t0


def median_wall(cmd: list[str], repeat: int, env: dict[str, str]) -> float:
    """Median wall time of ``repeat`` runs (after one untimed run that warms the file cache)."""
    return statistics.median([wall(cmd, env) for i in range(repeat + 1)][1:])


def startup(works: list[Path], repeat: int) -> None:
    """Start-up of installs kept by ``--keep`` (their work folders), interleaved run by run so
    that a busy machine slows them alike."""
    commands: dict[tuple[Path, str], list[str]] = {}
    for work in works:
        venv = work / "src" / ".venv"
        commands[work, "import_s"] = [str(venv / "bin" / "python"), "-c", "import vidscope"]
        commands[work, "analyzers_s"] = [str(venv / "bin" / "vidscope"), "analyzers"]
    times: dict[tuple[Path, str], list[float]] = {key: [] for key in commands}
    for i in range(repeat + 1):
        for (work, what), cmd in commands.items():
            env = {**os.environ, "VIDSCOPE_CACHE_DIR": str(work / "cache"), "COLUMNS": "200"}
            took = wall(cmd, env)
            if i:
                times[work, what].append(took)
    for work in works:
        medians = {what: round(statistics.median(times[work, what]), 3) for what in STARTUP}
        print(json.dumps({"work": str(work), "repeat": repeat, **medians}), flush=True)


def importtime(cmd: list[str], env: dict[str, str]) -> tuple[float | None, list[str]]:
    """Cumulative seconds of ``vidscope``'s import, and the heavy modules imported, from
    ``-X importtime``."""
    err = subprocess.run(
        cmd, check=True, capture_output=True, text=True, env={**env, "PYTHONPROFILEIMPORTTIME": "1"}
    ).stderr
    cumulative = None
    modules = set()
    for line in err.splitlines():
        if not line.startswith("import time:") or "|" not in line[13:]:
            continue
        _self, cum, name = (part.strip() for part in line[12:].split("|", 2))
        if name == "vidscope":
            cumulative = int(cum) / 1e6
        modules.add(name.split(".")[0])
    return cumulative, [m for m in HEAVY if m in modules]


def opencv(python: Path, site: Path, env: dict[str, str]) -> dict[str, object]:
    """Which OpenCV distributions are installed, and what kind of cv2 imports."""
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    packages = {p["name"].lower(): p["version"] for p in json.loads(listed)}
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import cv2, re; info = cv2.getBuildInformation(); "
            "print(re.search(r'GUI:\\s*(\\S+)', info).group(1))",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    libraries = [
        p
        for pattern in ("cv2/**/*.so*", "opencv*.libs/*.so*")
        for p in site.glob(pattern)
        if p.is_file()
    ]
    needs_gl = sorted(
        lib.name
        for lib in libraries
        if "libGL.so"
        in subprocess.run(["readelf", "-d", str(lib)], capture_output=True, text=True).stdout
    )
    return {
        "opencv": {k: v for k, v in packages.items() if "opencv" in k},
        "cv2_imports": probe.returncode == 0,
        "cv2_gui": probe.stdout.strip() or (probe.stderr.strip().splitlines() or ["?"])[-1],
        "libs_needing_libGL": needs_gl,
        "torch": packages.get("torch"),
        "packages": len(packages),
    }


def measure(extras: str, rev: str | None, work: Path, repeat: int) -> dict[str, object]:
    tree = work / "src"
    cache = work / "cache"
    tree.mkdir()
    copy_tree(rev, tree)
    env = {**os.environ, "VIDSCOPE_CACHE_DIR": str(cache)}
    env.pop("VIRTUAL_ENV", None)
    argument = "" if extras == "core" else extras
    t0 = time.perf_counter()
    done = subprocess.run(
        ["bash", str(tree / "scripts" / "setup.sh"), argument],
        capture_output=True,
        text=True,
        env=env,
    )
    install_s = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"setup.sh {argument!r} failed:\n{done.stderr[-3000:]}")
    venv = tree / ".venv"
    python = venv / "bin" / "python"
    site = next(venv.glob("lib/python3*/site-packages"))
    people = cache / "envs" / "people"
    result: dict[str, object] = {
        "extras": extras,
        "rev": rev or "working tree",
        "install_s": round(install_s, 1),
        "venv_mb": round(tree_size(venv) / MB),
        "people_mb": round(tree_size(people) / MB) if people.is_dir() else 0,
        **opencv(python, site, env),
    }
    run_env = {**env, "COLUMNS": "200"}
    result["import_s"] = round(median_wall([str(python), "-c", "import vidscope"], repeat, env), 3)
    cumulative, _ = importtime([str(python), "-c", "import vidscope"], env)
    result["import_cumulative_s"] = cumulative and round(cumulative, 3)
    analyzers = [str(venv / "bin" / "vidscope"), "analyzers"]
    result["analyzers_s"] = round(median_wall(analyzers, repeat, run_env), 3)
    _, heavy = importtime([str(python), "-m", "vidscope.cli", "analyzers"], run_env)
    result["analyzers_imports"] = heavy
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("extras", nargs="+", help="setup.sh's argument per install; core: none")
    parser.add_argument("--rev", help="a git revision instead of the working tree")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per start-up median")
    parser.add_argument("--work", type=Path, help="where the copies go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep each copy and its .venv")
    parser.add_argument("--json", type=Path, help="also append each result to this file")
    parser.add_argument(
        "--startup",
        action="store_true",
        help="only time the start-up of installs kept by --keep: the arguments are their folders",
    )
    args = parser.parse_args()
    if args.startup:
        startup([Path(a) for a in args.extras], args.repeat)
        return
    base = args.work or Path(tempfile.mkdtemp(prefix="vidscope-install-"))
    for extras in args.extras:
        work = base / (extras.replace(",", "+") or "core")
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        try:
            result = measure(extras, args.rev, work, args.repeat)
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
        print(json.dumps(result), flush=True)
        if args.json:
            with args.json.open("a") as out:
                out.write(json.dumps(result) + "\n")
    if not args.keep and args.work is None:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
