"""The default install stays lean: no PyTorch, one OpenCV, and that one headless.

The extras are read from pyproject.toml and followed through the installed packages' own
metadata (nothing imported, well under a second); the packages the scripts install with
``--no-deps`` are checked against the extras that must carry their other requirements.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import missing
from vidscope.analyzers.base import Availability
from vidscope.analyzers.vision import objects

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
GUI_OPENCV = {"opencv-python", "opencv-contrib-python"}
"""Builds of ``cv2`` with a GUI (which needs libGL); any of them next to the headless build
overwrites the same ``cv2`` package."""
NO_DEPS = [
    # (script, package, the extra that lists its requirements but opencv-python)
    ("scripts/setup.sh", "trackers", "vision"),
    ("scripts/test.sh", "scenedetect", "test"),
]


def extra(name: str) -> list[Requirement]:
    return [Requirement(r) for r in PROJECT["optional-dependencies"][name]]


def closure(extras: str) -> set[str]:
    """Every distribution ``pip install 'vidscope[EXTRAS]'`` brings, from pyproject.toml and
    the installed metadata of what it names (a requirement not installed here is counted
    without its own requirements)."""
    found: set[str] = set()
    todo = [Requirement(r) for r in PROJECT["dependencies"]]
    todo += [Requirement(f"vidscope[{extras}]")]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name == "vidscope":
            todo += [r for e in sorted(req.extras) for r in extra(e)]
            continue
        key = name + "".join(f"[{e}]" for e in sorted(req.extras))
        if key in found:
            continue
        found.add(key)
        try:
            declared = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for text in declared:
            dep = Requirement(text)
            wanted = ["", *sorted(req.extras)]
            if dep.marker is None or any(dep.marker.evaluate({"extra": e}) for e in wanted):
                todo.append(dep)
    return {key.split("[")[0] for key in found}


def test_default_install_has_no_torch_and_only_headless_opencv():
    default = closure("all")
    assert not default & {"torch", "transformers", "torchvision", "torchaudio"}
    assert not default & GUI_OPENCV
    assert "opencv-python-headless" in default
    # The HTTP client for OpenAI-compatible servers stays in: captions without PyTorch.
    assert {"httpx", "pillow"} <= default


def test_vlm_is_one_extra_away():
    assert {"torch", "transformers", "httpx", "pillow"} <= closure("vlm")


def test_setup_installs_torch_only_for_vlm():
    script = (ROOT / "scripts" / "setup.sh").read_text()
    torch_step = re.search(r"if wants (.+); then\n.*torch==", script)
    assert torch_step and torch_step.group(1) == "vlm"
    assert re.search(r"^scripts/setup\.sh all\n", (ROOT / "scripts/demo.sh").read_text(), re.M)
    # The tests load tiny vision-language models in process.
    assert "scripts/setup.sh all,vlm,test" in (ROOT / "scripts" / "test.sh").read_text()


@pytest.mark.parametrize(("script", "package", "extra_name"), NO_DEPS)
def test_no_deps_packages_bring_their_requirements_through_the_extra(script, package, extra_name):
    pin = re.search(rf'--no-deps "({package}==[^"]+)"', (ROOT / script).read_text())
    assert pin, f"{script} installs {package} without its dependencies"
    assert PROJECT["optional-dependencies"].get(extra_name)
    names = {canonicalize_name(r.name) for r in extra(extra_name) + extra("all")}
    names |= {canonicalize_name(Requirement(r).name) for r in PROJECT["dependencies"]}
    try:
        installed = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        missing(f"{package} is not installed here")
    assert f"{package}=={installed}" == pin.group(1)
    declared = [Requirement(r) for r in importlib.metadata.requires(package) or []]
    needed = {canonicalize_name(r.name) for r in declared if r.marker is None}
    assert needed - names == GUI_OPENCV & needed


def test_objects_names_the_trackers_pin_setup_installs():
    assert f'--no-deps "{objects.TRACKERS}"' in (ROOT / "scripts" / "setup.sh").read_text()
    # The GPU deployment's image installs it by hand too.
    assert f"--no-deps {objects.TRACKERS}" in (ROOT / "docs" / "scaling.md").read_text()


def test_objects_without_trackers_says_how_to_install_it(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "trackers" else real(name)
    )
    found = objects.ObjectsAnalyzer.availability()
    assert found == Availability(
        False,
        "missing Python package(s): trackers",
        f"pip install 'vidscope[vision]' && pip install --no-deps {objects.TRACKERS}",
    )


def test_installed_cv2_is_the_headless_build_alone():
    installed = {
        canonicalize_name(d.metadata["Name"])
        for d in importlib.metadata.distributions()
        if "opencv" in d.metadata["Name"].lower()
    }
    if not installed:
        missing("OpenCV is not installed here")
    assert installed == {"opencv-python-headless"}
    import cv2

    gui = re.search(r"GUI:\s*(\S+)", cv2.getBuildInformation())
    assert gui and gui.group(1) == "NONE"


HIDE_TORCH = """
import importlib.util, sys
real = importlib.util.find_spec
hidden = ("torch", "transformers")
importlib.util.find_spec = lambda name, *a: None if name.split(".")[0] in hidden else real(name, *a)
from vidscope.cli import main
sys.argv = ["vidscope", *sys.argv[1:]]
main()
"""
"""``vidscope`` as the default install sees it: PyTorch and transformers not found."""


def test_analyzers_without_torch_say_how_to_get_captions_in_process(tmp_path):
    def captions(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", HIDE_TORCH, "analyzers", *args],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "1000"},
            check=True,
        )
        return next(line for line in done.stdout.splitlines() if line.split()[:1] == ["captions"])

    unconfigured = captions()
    assert "unavailable" in unconfigured
    assert "--vlm-endpoint URL" in unconfigured
    assert "a model in process needs PyTorch and transformers" in unconfigured
    assert "pip install 'vidscope[vlm]' (scripts/setup.sh all,vlm in a checkout)" in unconfigured
    model = tmp_path / "Qwen2-VL-2B-Instruct"
    model.mkdir()
    in_process = captions("--set", f"vlm.model={model}")
    assert "missing Python package(s): torch, transformers" in in_process
    assert "pip install 'vidscope[vlm]'" in in_process


def test_cv2_imports_without_libgl():
    """A server without libGL imports cv2: where this machine has libGL, it is hidden from a
    subprocess by a bind mount of /dev/null in a mount namespace of its own."""
    need_cv2 = importlib.util.find_spec("cv2")
    if need_cv2 is None:
        missing("OpenCV is not installed here")
    listed = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    libgl = re.findall(r"libGL\.so\.1 \(.*\) => (\S+)", listed)
    probe = [sys.executable, "-c", "import cv2"]
    if libgl:
        hide = " && ".join(f"mount --bind /dev/null {path}" for path in libgl)
        if subprocess.run(["unshare", "--mount", "sh", "-c", hide], capture_output=True).returncode:
            missing("cannot make a mount namespace here to hide libGL")
        probe = [
            "unshare",
            "--mount",
            "sh",
            "-c",
            f"{hide} && exec {sys.executable} -c 'import cv2'",
        ]
    done = subprocess.run(probe, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-500:]
