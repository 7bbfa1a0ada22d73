"""The project's set-up files agree with each other and with the README."""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _env_pip_deps(path: Path) -> list[str]:
    deps, in_pip = [], False
    for line in path.read_text().splitlines():
        if line.strip() == "- pip:":
            in_pip = True
            continue
        if in_pip and line.strip().startswith("- "):
            dep = line.strip()[2:].strip()
            if not dep.startswith("-e"):
                deps.append(dep)
    return deps


def test_environment_yml_matches_pyproject_dependencies():
    project = {d.replace(" ", "") for d in _pyproject()["project"]["dependencies"]}
    env = {d.replace(" ", "") for d in _env_pip_deps(ROOT / "environment.yml")}
    assert env == project, f"only in environment.yml: {env - project}; only in pyproject: {project - env}"


def test_binder_environment_is_the_same_file():
    assert (ROOT / "binder" / "environment.yml").read_text() == (ROOT / "environment.yml").read_text()


def test_constraints_pin_torch_and_cover_every_dependency():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[_name(name)] = version
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    project = _pyproject()["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    missing = [d for d in wanted if _name(d) not in pins]
    assert not missing, f"constraints.txt should pin the versions the suite ran with: {missing}"


def test_ipywidgets_range_admits_colab_7x():
    deps = {_name(d): d for d in _pyproject()["project"]["dependencies"]}
    assert deps["ipywidgets"].replace(" ", "") == "ipywidgets>=7.7,<9"


def test_readme_commands_are_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make lab" in readme and "make test" in readme
    assert re.search(r"^\s*make test\b", ci, re.M), ".ci/run must run the README's test command"


def test_readme_course_map_lists_every_notebook():
    readme = (ROOT / "README.md").read_text()
    for path in sorted((ROOT / "course").glob("[0-9][0-9]_*.py")):
        assert f"course/{path.stem}.ipynb" in readme, f"README course map lacks {path.stem}"
    for path in sorted((ROOT / "solutions").glob("[0-9][0-9]_*.py")):
        assert f"labs/{path.stem}.ipynb" in readme, f"README course map lacks lab {path.stem}"


def test_genlab_help_loads_neither_torch_nor_a_subcommand():
    import subprocess

    code = ("import sys\nfrom genlab.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'numpy', 'jupytext', 'genlab.course', 'genlab.doctor') if m in sys.modules]\n"
            "print('HEAVY', heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
    assert "workspace" in out.stdout


def test_public_names_still_work_lazily():
    import genlab

    assert callable(genlab.device) and callable(genlab.seed_everything) and callable(genlab.start)
    assert genlab.colab.on_colab() is False            # a submodule, loaded on first use
    for name in genlab.__all__:
        assert hasattr(genlab, name), name


def test_readme_says_how_to_run_genlab_and_how_big_the_install_is():
    readme = (ROOT / "README.md").read_text()
    assert "source .venv/bin/activate" in readme and ".venv/bin/genlab doctor" in readme
    assert "genlab workspace" in readme and "work/" in readme
    assert "download.pytorch.org/whl/cpu" in readme and "du -sh" in readme


def test_make_lab_opens_the_workspace_without_news():
    makefile = (ROOT / "Makefile").read_text()
    lab = makefile.split("\nlab:", 1)[1].split("\n\n", 1)[0]
    assert "workspace" in makefile.split("\nlab:", 1)[1].splitlines()[0]
    assert "default_url=/lab/tree/$(WORKSPACE)" in lab and "news_url=None" in lab
    assert "/work/" in (ROOT / ".gitignore").read_text().splitlines()
