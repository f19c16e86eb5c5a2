"""The `bcapi` command, as operators and rule maintainers use it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select

from bcapi.services.principal import hash_key
from bcapi.cli.main import main
from bcapi.storage.models import ApiKey

EXAMPLES = Path(__file__).resolve().parent.parent / "schemas" / "examples"


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.setenv("BCAPI_DATABASE_URL", f"sqlite:///{tmp_path}/cli.sqlite3")
    monkeypatch.setenv("BCAPI_INSTANCE_PATH", str(tmp_path))
    return CliRunner()


def test_db_upgrade_then_keys_create_prints_the_key_last_and_stores_only_its_hash(runner, tmp_path):
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(main, ["keys", "create", "--role", "commissioner", "--consortium", "EAS",
                                  "--label", "EAS tool"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("bcapi_") and len(key) > 40
    engine = create_engine(f"sqlite:///{tmp_path}/cli.sqlite3")
    with engine.connect() as conn:
        row = conn.execute(select(ApiKey.key_hash, ApiKey.role, ApiKey.consortium_code)).one()
    engine.dispose()
    assert row == (hash_key(key), "commissioner", "EAS")
    assert key not in (tmp_path / "cli.sqlite3").read_bytes().decode("latin-1")


def test_a_commissioner_key_needs_a_consortium(runner):
    runner.invoke(main, ["db", "upgrade"])
    result = runner.invoke(main, ["keys", "create", "--role", "commissioner"])
    assert result.exit_code == 2 and "consortium" in result.stderr


def test_assess_a_file_offline_as_json_matches_the_engine(runner):
    result = runner.invoke(main, ["assess", str(EXAMPLES / "dermatology-gpwsi.json"), "--format", "json"])
    assert result.exit_code == 0, result.output
    assessment = json.loads(result.stdout)
    assert assessment["rating"] == "red" and assessment["case_id"] is None
    assert any(f["status"] == "fail" for f in assessment["findings"])


def test_assess_text_groups_failures_by_criterion(runner):
    result = runner.invoke(main, ["assess", str(EXAMPLES / "dermatology-gpwsi.json")])
    assert result.exit_code == 0
    assert result.stdout.startswith("Overall: RED")
    assert "Conflicts of interest" in result.stdout and "what to do:" in result.stdout


def test_assess_reports_an_invalid_file_by_pointer(runner, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": "1", "title": "x"}')
    result = runner.invoke(main, ["assess", str(bad)])
    assert result.exit_code == 2
    assert "/title" in result.stderr and "/consortium" in result.stderr


def test_serve_demo_loads_the_sample_cases_and_prints_working_keys(runner, tmp_path, monkeypatch):
    """The README's first command: migrate, load the samples, print a key per role (gunicorn stubbed)."""
    served = {}
    monkeypatch.setattr("bcapi.http.server.run", lambda **kwargs: served.update(kwargs))
    result = runner.invoke(main, ["serve", "--demo", "--bind", "127.0.0.1:8123"])
    assert result.exit_code == 0, result.output
    assert served["bind"] == "127.0.0.1:8123"
    assert "http://127.0.0.1:8123/api/v1/cases" in result.output
    eas_key = next(line.split()[-1] for line in result.output.splitlines() if "commissioner (EAS)" in line)

    from bcapi.http.app import create_app

    app = create_app({"BCAPI_DATABASE_URL": f"sqlite:///{tmp_path}/cli.sqlite3", "BCAPI_INSTANCE_PATH": str(tmp_path)})
    listed = app.test_client().get("/api/v1/cases", headers={"Authorization": f"Bearer {eas_key}"})
    assert listed.status_code == 200
    titles = {item["title"] for item in listed.get_json()["items"]}
    assert titles == {json.loads(p.read_text())["title"] for p in EXAMPLES.glob("*.json")
                      if json.loads(p.read_text())["consortium"]["code"] == "EAS"}
    app.extensions["bcapi"].db.dispose()
