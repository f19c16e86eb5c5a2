"""A plain install works from any folder: the wheel carries the ruleset, the schemas and the samples.

Builds the wheel from a copy of the sources, installs it (without -e) into a fresh venv whose
dependencies come from this one, and runs `bcapi` from an empty folder, as a rule maintainer or
a new user would after `pip install .`.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest
import requests

from .live import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "setup.py", "README.md", "bcapi", "rules", "schemas")


def _run(*args, cwd: Path, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def _build_wheel(tmp: Path, env: dict[str, str]) -> Path:
    source = tmp / "src"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, source / name)
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp / "dist", source, cwd=tmp, env=env)
    return next((tmp / "dist").glob("bcapi-*.whl"))


def _fresh_venv(tmp: Path, wheel: Path, env: dict[str, str]) -> Path:
    """A venv holding only the wheel; the dependencies are this venv's, through a .pth file (this
    venv's own .pth files, such as the editable install's, are not read from there)."""
    venv = tmp / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp, env=env)
    purelib = Path(_run(venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                        cwd=tmp, env=env).stdout.strip())
    (purelib / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q", "--no-deps",
         "--no-index", wheel, cwd=tmp, env=env)
    return venv / "bin"


def test_a_wheel_installed_without_e_runs_from_another_folder(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BCAPI_", "PYTHON"))}
    wheel = _build_wheel(tmp_path, env)
    bin_ = _fresh_venv(tmp_path, wheel, env)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    where = _run(bin_ / "python", "-c", "import bcapi, bcapi.data as d; print(bcapi.__file__); "
                 "print(d.reference_ruleset()); print(d.example_cases())", cwd=elsewhere, env=env).stdout.split()
    site = str(tmp_path / "venv")
    assert all(path.startswith(site) for path in where), where  # the wheel's files, not the checkout's
    samples = Path(where[2])

    check = _run(bin_ / "bcapi", "rules", "check", cwd=elsewhere, env=env)
    assert "reference.yaml: ok (" in check.stderr
    tests = _run(bin_ / "bcapi", "rules", "test", cwd=elsewhere, env=env)
    assert " 0 failed" in tests.stdout
    assessed = _run(bin_ / "bcapi", "assess", "--format", "json", samples / "msk-triage.json", cwd=elsewhere, env=env)
    assert json.loads(assessed.stdout)["rating"] in ("green", "amber", "red")

    port = free_port()
    serve_env = {**env, "BCAPI_BIND": f"127.0.0.1:{port}", "BCAPI_WORKERS": "1", "BCAPI_LOG_LEVEL": "WARNING"}
    # --bind repeats BCAPI_BIND until `bcapi serve` reads it itself (another branch makes it).
    output = tmp_path / "serve.out"
    with output.open("w") as out:
        server = subprocess.Popen([bin_ / "bcapi", "serve", "--demo", "--workers", "1", "--bind", f"127.0.0.1:{port}"],
                                  cwd=elsewhere, env=serve_env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, server)
        lines = output.read_text().splitlines()
        key = next(line.split()[-1] for line in lines if "commissioner (EAS):" in line)
        listed = requests.get(f"{url}/api/v1/cases", headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert listed.status_code == 200
        # the one EAS case among the three samples loaded
        assert [case["reference"] for case in listed.json()["items"]] == ["EAS-RESP-2009-03"]
        assert requests.get(f"{url}/api/v1/docs/static/swagger-ui-bundle.js", timeout=10).status_code == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert (elsewhere / "instance" / "bcapi.sqlite3").is_file()  # ./instance, not site-packages


def _wait_healthy(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        if server.poll() is not None:
            pytest.fail(f"bcapi serve --demo exited with {server.returncode}")
        time.sleep(0.2)
    pytest.fail("bcapi serve --demo did not answer /healthz in 45 s")


def test_the_client_installs_alone_and_brings_no_server(tmp_path):
    """`pip install ./clients/python`: the same bcapi.client module, needing requests and simplejson only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BCAPI_", "PYTHON"))}
    source = tmp_path / "src"
    shutil.copytree(ROOT / "clients" / "python", source / "clients" / "python")
    shutil.copytree(ROOT / "bcapi" / "client", source / "bcapi" / "client", ignore=shutil.ignore_patterns("__pycache__"))
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp_path / "dist", source / "clients" / "python",
         cwd=tmp_path, env=env)
    wheel = next((tmp_path / "dist").glob("bcapi_client-*.whl"))
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith("/METADATA"))).decode()
    assert [n for n in names if not n.startswith("bcapi_client-")] == ["bcapi/client/__init__.py"]
    assert sorted(line.split(": ")[1] for line in metadata.splitlines() if line.startswith("Requires-Dist")) == [
        "requests>=2.31", "simplejson>=3.19"]

    bin_ = _fresh_venv(tmp_path, wheel, env)
    code = ("import sys, bcapi.client\n"
            "print(bcapi.client.__file__)\n"
            "print(bcapi.client.USER_AGENT)\n"
            "try:\n    import bcapi.engine\nexcept ImportError:\n    print('no server')\n")
    out = _run(bin_ / "python", "-c", code, cwd=tmp_path, env=env).stdout.split()
    assert out[0].startswith(str(tmp_path / "venv")) and out[1].startswith("bcapi-client/") and out[2:] == ["no", "server"]
