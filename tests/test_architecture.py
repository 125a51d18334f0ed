"""The package structure: one installed namespace, layers that import one way (import-linter contracts in
pyproject.toml), no module cycles, and a normal install that works without the source tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PACKAGE_DIRS: dict[str, str] = PYPROJECT["tool"]["setuptools"]["package-dir"]
REPO_FOLDERS = sorted({d for d in PACKAGE_DIRS.values() if d != "dftag"})

CYCLES = """
import sys, grimp
graph = grimp.build_graph("dftag")
cycles = set()
for module in sorted(graph.modules):
    for imported in graph.find_modules_directly_imported_by(module):
        chain = graph.find_shortest_chain(importer=imported, imported=module)
        if chain:
            cycles.add(" -> ".join((module, *chain)))
print("\\n".join(sorted(cycles)))
sys.exit(1 if cycles else 0)
"""


def layer_tree(root: Path) -> Path:
    """The installed layout ``dftag/<layer>/`` as links into the repository folders that pyproject.toml maps
    (what ``pip install .`` builds), so that import-linter and grimp, which walk one package folder, see it all."""
    package = root / "dftag"
    package.mkdir(parents=True)
    for name, folder in PACKAGE_DIRS.items():
        if name == "dftag":
            for module in (REPO / folder).glob("*.py"):
                (package / module.name).symlink_to(module)
        else:
            (package / name.removeprefix("dftag.")).symlink_to(REPO / folder, target_is_directory=True)
    return root


def run_python(args: list[str], cwd: Path, pythonpath: Path | None = None,
               python: str = sys.executable) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([python, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_every_mapped_folder_is_a_package_listed_for_install():
    packages = set(PYPROJECT["tool"]["setuptools"]["packages"])
    for name, folder in PACKAGE_DIRS.items():
        assert (REPO / folder / "__init__.py").is_file(), folder
        assert name in packages
        for sub in (REPO / folder).rglob("__init__.py"):
            dotted = ".".join((name, *sub.parent.relative_to(REPO / folder).parts))
            assert dotted in packages, f"{sub.parent} is not installed"


def test_import_contracts_hold(tmp_path):
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.skip("import-linter is not installed (make test installs it)")
    env = {**os.environ, "PYTHONPATH": str(layer_tree(tmp_path / "tree"))}
    done = subprocess.run([str(lint), str(REPO / "pyproject.toml"), "--no-cache"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "broken" not in done.stdout.split("Contracts:")[-1].replace("0 broken", "")


def test_no_module_imports_itself_through_a_cycle(tmp_path):
    pytest.importorskip("grimp")
    done = run_python(["-c", CYCLES], cwd=tmp_path, pythonpath=layer_tree(tmp_path / "tree"))
    assert done.returncode == 0, "import cycles:\n" + done.stdout + done.stderr[-2000:]


@pytest.mark.slow
def test_normal_install_exposes_only_the_dftag_namespace(tmp_path):
    """``pip install .`` (not editable) into a fresh venv: ``dftag`` and ``python -m dftag`` work from anywhere;
    the repository's folder names are not importable as top-level packages."""
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", ".venv", "runs", "build", "*.egg-info",
                                                                 "__pycache__", ".pytest_cache"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    site = Path(run_python(["-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path,
                           python=python).stdout.strip())
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # torch & co., not dftag
    # --target, not --prefix: pip would first uninstall the editable dftag of the environment running pip
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                              "--no-build-isolation", "--target", str(site), str(source)],
                             cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]

    where = run_python(["-c", "import dftag, dftag.annotations, dftag.tools.commands as c; "
                              "print(dftag.__version__, dftag.annotations.__file__, c.__file__)"], tmp_path,
                       python=python)
    assert where.returncode == 0, where.stderr
    version, *files = where.stdout.split()
    assert version == PYPROJECT["project"]["version"]
    assert all(Path(f).is_relative_to(site) for f in files), files
    probe = "\n".join(f"try:\n    import {name}\n    print('importable: {name}')\nexcept ModuleNotFoundError:\n    pass"
                      for name in REPO_FOLDERS)
    done = run_python(["-c", probe], tmp_path, python=python)
    assert done.returncode == 0 and "importable" not in done.stdout, done.stdout + done.stderr
    assert "usage: dftag" in run_python(["-m", "dftag", "--help"], tmp_path, python=python).stdout
    # the console script (one command's parser only: no torch import)
    assert "usage: dftag info" in run_python([str(site / "bin" / "dftag"), "info", "--help"], tmp_path,
                                             python=python).stdout
