"""`bcapi serve --demo` replaces its three demo keys at each start rather than adding three more."""
from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import create_engine, text

from bcapi.cli.main import main


def _demo_keys(output: str) -> dict[str, str]:
    keys = {}
    for line in output.splitlines():
        for role in ("admin", "board", "commissioner (EAS)"):
            if line.strip().startswith(f"{role}:"):
                keys[role] = line.split()[-1]
    return keys


def test_each_demo_start_revokes_the_last_starts_keys(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/demo.sqlite3"
    monkeypatch.setenv("BCAPI_DATABASE_URL", url)
    monkeypatch.setenv("BCAPI_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setattr("bcapi.http.server.run", lambda **kwargs: None)
    runner = CliRunner()
    first = runner.invoke(main, ["serve", "--demo", "--bind", "127.0.0.1:8123"])
    second = runner.invoke(main, ["serve", "--demo", "--bind", "127.0.0.1:8123"])
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    old, new = _demo_keys(first.output), _demo_keys(second.output)
    assert len(old) == len(new) == 3 and not set(old.values()) & set(new.values())
    assert "board dashboard: http://127.0.0.1:8123/dashboard  (sign in with the board key)" in second.output
    assert f"export BCAPI_URL=http://127.0.0.1:8123 KEY={new['commissioner (EAS)']}" in second.output

    engine = create_engine(url)
    with engine.connect() as connection:
        active = connection.execute(text("SELECT label FROM api_keys WHERE revoked_at IS NULL")).scalars().all()
        cases = connection.execute(text("SELECT count(*) FROM business_cases")).scalar()
    engine.dispose()
    assert sorted(active) == ["demo EAS", "demo admin", "demo board"]
    assert cases == 3  # the samples are loaded once, not again at the second start

    from bcapi.http.app import create_app

    app = create_app({"BCAPI_DATABASE_URL": url, "BCAPI_INSTANCE_PATH": str(tmp_path)})
    client = app.test_client()
    assert client.get("/api/v1/cases", headers={"Authorization": f"Bearer {old['board']}"}).status_code == 401
    assert client.get("/api/v1/cases", headers={"Authorization": f"Bearer {new['board']}"}).status_code == 200
    app.extensions["bcapi"].db.dispose()
