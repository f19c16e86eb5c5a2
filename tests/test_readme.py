"""The README's commands run as written.

Every ```sh block, in order, in one bash (`set -e`, so a failing command fails the test), from
the repository's folder with this venv's `bin` on PATH, against a live `bcapi serve --demo`
started here on a free port, with the `BCAPI_URL` and `KEY` that the demo prints for pasting. A
block preceded by `<!-- readme-test: skip -->` is not run (it installs or starts something);
the walk-through never is. The example rule must pass `bcapi rules check`.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from .live import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SKIP = "<!-- readme-test: skip -->"
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)\n(?P<body>.*?)^(?P=indent)```$", re.M | re.S)


def blocks(language: str) -> list[tuple[bool, str]]:
    """(skipped?, text) of each fenced block in that language, in order, dedented."""
    found = []
    for match in FENCE.finditer(README):
        if match["lang"] != language:
            continue
        before = README[:match.start()].rstrip().splitlines()
        skipped = bool(before) and before[-1].strip() == SKIP
        indent = len(match["indent"])
        text = "\n".join(line[indent:] for line in match["body"].splitlines())
        found.append((skipped, text))
    return found


@pytest.fixture
def demo(tmp_path):
    """`bcapi serve --demo` on a free port; the environment its printed line sets."""
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BCAPI_")},
           "BCAPI_DATABASE_URL": f"sqlite:///{tmp_path}/readme.sqlite3", "BCAPI_INSTANCE_PATH": str(tmp_path),
           "BCAPI_LOG_LEVEL": "WARNING", "BCAPI_BIND": f"127.0.0.1:{port}"}
    output = tmp_path / "serve.out"
    with output.open("w") as out:
        # --bind repeats BCAPI_BIND until `bcapi serve` reads it itself (another branch makes it).
        server = subprocess.Popen([str(BIN / "bcapi"), "serve", "--demo", "--workers", "1", "--bind", f"127.0.0.1:{port}"],
                                  cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 45
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"bcapi serve --demo did not start:\n{output.read_text()}")
            time.sleep(0.2)
        printed = output.read_text()
        line = next(line for line in printed.splitlines() if line.strip().startswith("export BCAPI_URL="))
        pasted = dict(pair.split("=", 1) for pair in line.split()[1:])
        yield {**env, **pasted}, printed
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_the_demo_says_where_the_dashboard_is_and_which_key_signs_in(demo):
    _, printed = demo
    assert re.search(r"board dashboard: http://127\.0\.0\.1:\d+/dashboard +\(sign in with the board key\)", printed)
    assert re.search(r"^  board: +bcapi_\S+$", printed, re.M)


def test_every_shell_block_of_the_readme_runs(demo, tmp_path):
    env, _ = demo
    runnable = [text for skipped, text in blocks("sh") if not skipped]
    assert any("/api/v1/cases" in text for text in runnable), "the walk-through must not be skipped"
    script = tmp_path / "readme.sh"
    script.write_text("set -e -o pipefail\n" + "\n".join(runnable) + "\n")
    env = {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", "HOME": str(tmp_path)}
    result = subprocess.run(["bash", str(script)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = result.stdout
    assert result.returncode == 0, f"{out}\n{result.stderr}"
    assert re.search(r"^HTTP/1\.1 201", out, re.M)
    assert re.search(r"^case [0-9a-f-]{36}, ETag \"\S+\"$", out, re.M)
    assert re.search(r"^amber \d", out, re.M)                        # the COPD sample's feedback
    assert "revised: 200" in out and "the same ETag again: 412" in out
    assert re.search(r"^dry run: (green|amber|red) \d", out, re.M)
    assert "reference.yaml: ok" in result.stderr                     # bcapi rules check


def test_the_example_rule_passes_rules_check(tmp_path):
    """The README's rule, added (under an id of its own) first in the reference ruleset, is accepted."""
    (example,) = [text for _, text in blocks("yaml")]
    rule_id = re.search(r"- id: (\S+)", example)[1]
    reference = (ROOT / "rules" / "reference.yaml").read_text(encoding="utf-8")
    assert re.search(r"^rules:\n", reference, re.M)
    added = example.replace(f"id: {rule_id}", "id: README-EXAMPLE-RULE", 1)
    path = tmp_path / "with-readme-rule.yaml"
    path.write_text(re.sub(r"^rules:\n", lambda m: m[0] + added + "\n\n", reference, count=1, flags=re.M),
                    encoding="utf-8")
    result = subprocess.run([str(BIN / "bcapi"), "rules", "check", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok (" in result.stderr
