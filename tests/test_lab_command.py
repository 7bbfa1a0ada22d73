"""The README's lab command starts JupyterLab on the course (`make lab`), in the student workspace."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(180)
def test_make_lab_serves_course_labs_and_solutions(tmp_path):
    port, token = _free_port(), secrets.token_hex(16)
    server_args = (f"--no-browser --ip=127.0.0.1 --IdentityProvider.token={token} "
                   f"--ServerApp.open_browser=False")
    venv = Path(sys.prefix)
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"), JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"))
    if shutil.which("make") and venv == ROOT / ".venv" and (venv / ".genlab-installed").exists():
        cmd = ["make", "-s", "lab", f"PORT={port}", f"LAB_ARGS={server_args}"]
    else:  # a venv not made by `make`: the same two steps directly
        subprocess.run([sys.executable, "-m", "genlab", "workspace"], cwd=ROOT, check=True)
        cmd = [sys.executable, "-m", "jupyter", "lab", f"--port={port}", "--notebook-dir=.",
               "--LabApp.default_url=/lab/tree/work", "--LabApp.news_url=None", *server_args.split()]
        if os.geteuid() == 0:
            cmd.append("--allow-root")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/api/contents?token={token}"
        deadline, listing = time.monotonic() + 120, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    listing = json.load(r)
                    break
            except OSError:
                time.sleep(0.5)
        assert listing is not None, f"JupyterLab did not answer on port {port}"
        names = {item["name"] for item in listing["content"]}
        assert {"course", "labs", "solutions", "work"} <= names, names
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents/work/labs?token={token}") as r:
            labs = {item["name"] for item in json.load(r)["content"]}
        assert "00_setup.ipynb" in labs
        # It opens in the workspace, without the news toast.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/?token={token}") as r:
            assert r.url.split("?")[0].endswith("/lab/tree/work"), r.url
            page = r.read().decode()
        assert '"news": {"disabled": true}' in page, "the news toast is not turned off"
        # Save a notebook in the workspace as JupyterLab's autosave does (the contents API, through
        # jupytext's contents manager): no paired .py appears, no tracked file changes. A scratch
        # notebook of the test's own, so a student's copies are never touched; removed after.
        before = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
        name = f"work/labs/zz_autosave_probe_{token[:8]}.ipynb"
        api = f"http://127.0.0.1:{port}/api/contents/{name}?token={token}"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents/work/labs/00_setup.ipynb?token={token}") as r:
            content = json.load(r)["content"]
        body = json.dumps({"type": "notebook", "format": "json", "content": content}).encode()
        req = urllib.request.Request(api, data=body, method="PUT", headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req) as r:
                assert r.status in (200, 201)
            assert (ROOT / name).is_file()
            assert not (ROOT / name).with_suffix(".py").exists(), "a notebook in work/ got a paired .py"
            after = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                                   text=True).stdout
        finally:
            (ROOT / name).unlink(missing_ok=True)
            (ROOT / name).with_suffix(".py").unlink(missing_ok=True)
        assert after == before and "work/" not in after, after
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
