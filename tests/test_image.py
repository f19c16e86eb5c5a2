"""The image and its deployment as operators expect them (issue #13). Docker cannot run here, so
what can be checked without it is: the Dockerfile's contract, the lock it installs from (which
installs, with its hashes, into a fresh venv), and the compose file's order of start.
"""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import pytest
from ruamel.yaml import YAML

from .live import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
LOCK = (ROOT / "deploy" / "requirements.lock").read_text()


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, str]:
    """Each pinned package in the lock and its version, checking every pin carries a hash."""
    pins = {}
    for entry in re.split(r"\n(?=[A-Za-z0-9])", LOCK.split("\n\n", 1)[-1]):
        first = entry.split("\\", 1)[0].strip()
        if first.startswith("#") or not first:
            continue
        name, version = first.split("==")
        assert "--hash=sha256:" in entry, f"{name} is pinned without a hash"
        pins[normalise(name)] = version
    return pins


def test_the_image_serves_as_a_non_root_user_and_does_not_migrate_at_start():
    assert "\nUSER 10001" in DOCKERFILE
    assert DOCKERFILE.strip().splitlines()[-1] == 'CMD ["gunicorn", "wsgi:app"]'
    assert "db upgrade" not in DOCKERFILE.split("\nCMD")[-1]


def test_the_image_runs_in_production_mode_with_its_cookie_over_https_only():
    """Production: the service refuses to start without BCAPI_SECRET_KEY."""
    assert re.search(r"^\s+BCAPI_COOKIE_SECURE=true\b", DOCKERFILE, re.MULTILINE)
    assert re.search(r"^\s+BCAPI_ENV=production\b", DOCKERFILE, re.MULTILINE)


def test_the_base_image_is_pinned_by_digest():
    (base,) = re.findall(r"^FROM (\S+)", DOCKERFILE, re.MULTILINE)
    assert re.fullmatch(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", base)


def test_dependencies_come_from_the_lock_with_hashes_and_the_project_adds_none():
    assert "pip install --no-cache-dir --require-hashes -r deploy/requirements.lock" in DOCKERFILE
    assert "pip install --no-cache-dir --no-deps ." in DOCKERFILE


def test_the_lock_pins_every_dependency_the_project_declares():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = locked()
    for requirement in declared:
        name = normalise(re.match(r"[A-Za-z0-9._-]+", requirement).group())
        assert name in pins, f"{name} is a dependency but not in deploy/requirements.lock: refresh it (docs/DEPLOY.md)"


def test_the_lock_pins_what_the_tests_run_with():
    """The image must run the versions this suite tested (where this venv has them)."""
    from importlib.metadata import PackageNotFoundError, version

    for name, pinned in locked().items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue
        assert installed == pinned, f"{name}: the tests ran {installed}, the lock pins {pinned}"


@pytest.mark.slow
def test_the_lock_installs_into_a_fresh_venv_with_its_hashes(tmp_path):
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True)
    pip = str(tmp_path / "venv" / "bin" / "pip")
    for args in (["--require-hashes", "-r", str(ROOT / "deploy" / "requirements.lock")], ["--no-deps", str(ROOT)]):
        result = subprocess.run([pip, "install", "-q", *args], capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-2000:]
    check = subprocess.run([pip, "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    imported = subprocess.run([str(tmp_path / "venv" / "bin" / "python"), "-c", "import bcapi.http.worker"],
                              capture_output=True, text=True)
    assert imported.returncode == 0, imported.stderr


def test_compose_starts_the_app_after_the_migration_ran_once():
    services = YAML(typ="safe").load((ROOT / "deploy" / "compose.yaml").read_text())["services"]
    assert services["migrate"]["command"] == ["bcapi", "db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    assert services["app"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services["app"]["command"] == ["gunicorn", "wsgi:app"]
    assert services["app"]["environment"]["BCAPI_RATE_LIMIT_STORAGE"] == "redis://redis:6379/0"
    assert services["app"]["environment"]["BCAPI_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "ports" not in services["app"]  # reached through nginx only
    assert "./nginx/bcapi.conf:/etc/nginx/conf.d/default.conf:ro" in services["nginx"]["volumes"]
