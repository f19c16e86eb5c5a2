"""Dashboard benchmark (issue #6): the board's portfolio at 100,000 cases, SQLite and PostgreSQL.

    .venv/bin/python bench/dashboard.py [--quick] [--cases N] [--requests N] [--no-postgres]

1. Templates: a few hundred varied business cases (the three samples with consortia, service
   areas and money varied and sections left out, so that ratings and failed rules vary) are
   submitted through the service itself (`services.cases.submit`) into a scratch SQLite file;
   every row that wrote is read back.
2. Seeding: cases are cloned from those rows with new ids straight into each database in bulk
   (PostgreSQL through COPY), exactly the rows the service writes: submissions spread over five
   years up to today, a share revised (two revisions and assessments, the latest the case's), a
   share decided. The same seed gives the same cases on both databases. First 1,000 cases, then
   up to N. After each stage PostgreSQL gets the VACUUM ANALYZE autovacuum would have run.
3. Timing, through the Flask test client, per database and stage: `GET /api/v1/dashboard`
   unfiltered and with each filter (p50, p95 of R requests). The baseline, measured in the same
   run and interleaved request by request with the dashboard so that both see the same machine
   noise, is a `SELECT count(*) FROM business_cases` round trip through the service's own
   session: the cheapest question whose cost still grows with the cases, so `p50 / count(*)`
   says how many full-table counts one dashboard costs. `GET /api/v1/dashboard/cases.csv` is
   streamed to the end in a fresh process, for its time, peak RSS growth and Python's peak
   allocation (tracemalloc) at 1,000 and at N cases: constant memory means the same growth.
   The two databases' dashboards must be identical.

Target (issue #6): dashboard p50 <= 150 ms at 100,000 cases on both databases, with every filter.
"""
from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# bench/ last, so that bench/http.py does not stand in for the standard library's `http`
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH] + [str(BENCH)]
sys.path.insert(0, str(ROOT))

from sqlalchemy import event, insert, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bcapi.storage import migrate  # noqa: E402
from bcapi.services.principal import Principal  # noqa: E402
from bcapi.config import DEFAULT_RULES  # noqa: E402
from bcapi.storage.database import Database, make_engine  # noqa: E402
from bcapi.document import dumps, loads  # noqa: E402
from bcapi.engine import load_ruleset  # noqa: E402
from bcapi.storage.models import (AssessmentCriterion, BusinessCase, Decision, FailedRule, Revision,  # noqa: E402
                          StoredAssessment, StoredRuleset)
from bcapi.services import cases as case_service  # noqa: E402
from bcapi.services import dashboard as dashboard_service  # noqa: E402
from scratch_postgres import scratch_database  # noqa: E402

EXAMPLES = ROOT / "schemas" / "examples"

CONSORTIA = [("EAS", "Easington PbC Consortium"), ("SOTON-C", "Southampton City PbC"),
             ("DERW", "Derwentside Commissioning Group"), ("NWD", "North West Durham Practices"),
             ("CHES", "Chester-le-Street Consortium"), ("SEDG", "Sedgefield Alliance"),
             ("DARL", "Darlington Practice Collaborative"), ("TEES", "Teesdale PbC Group"),
             ("WEAR", "Wear Valley Commissioners"), ("DUR-C", "Durham City PbC"),
             ("HART", "Hartlepool Practice Group"), ("STOK", "Stockton North Consortium")]
SERVICE_AREAS = ["respiratory", "dermatology", "musculoskeletal", "cardiology", "diabetes", "ophthalmology",
                 "mental_health", "urology", "gynaecology", "ent", None]
MONEY_KEYS = {"one_off", "recurring", "total_investment", "amount", "total_savings", "annual_cost", "unit_cost",
              "total_cost", "total_benefit", "net_benefit", "expected", "contract_value", "reference_price",
              "proposed_price"}
SCALES = [Decimal(x) for x in ("0.5", "0.75", "1", "1", "1.25", "1.5", "2", "3")]
OUTCOMES = ["approved", "approved", "approved", "rejected", "deferred", "returned_for_revision"]
YEARS = 5
BASE_STAGE = 1_000


# -- 1. templates ---------------------------------------------------------------------------

def _scale_money(node: Any, factor: Decimal) -> Any:
    if isinstance(node, dict):
        return {k: (v * factor if k in MONEY_KEYS and isinstance(v, (int, Decimal)) and not isinstance(v, bool)
                    else _scale_money(v, factor)) for k, v in node.items()}
    if isinstance(node, list):
        return [_scale_money(v, factor) for v in node]
    return node


def varied_document(samples: list[dict], rng: random.Random, i: int) -> dict:
    """A sample case, varied so that consortia, areas, money, ratings and failed rules vary."""
    code, name = CONSORTIA[i % len(CONSORTIA)]
    if rng.random() < 0.07:
        return {"schema_version": "1", "title": f"Outline proposal {i}", "consortium": {"code": code, "name": name}}
    doc = _scale_money(copy.deepcopy(rng.choice(samples)), rng.choice(SCALES))
    doc["consortium"] = {"code": code, "name": name}
    doc["title"] = f"{doc['title'][:150]} ({code} {i})"
    doc["reference"] = f"{code}-{i:04d}"
    area = rng.choice(SERVICE_AREAS)
    if area is None:
        doc.pop("service_area", None)
    else:
        doc["service_area"] = area
    # Leave things out, as real drafts do: each gap fails rules (amber, red).
    finance, governance = doc.get("finance", {}), doc.get("governance", {})
    conflicts = doc.get("conflicts_of_interest", {})
    for drop, where, key in ((0.25, finance, "sensitivity"), (0.2, finance, "total_savings"),
                             (0.15, governance, "pct_sign_off"), (0.2, governance, "exit_strategy"),
                             (0.08, conflicts, "independent_scrutiny"), (0.1, doc, "options"),
                             (0.05, doc, "risks"), (0.1, governance, "monitoring"), (0.03, doc, "finance")):
        if rng.random() < drop:
            where.pop(key, None)
    if conflicts and not conflicts.get("declarations") and rng.random() < 0.7:  # conflicts put right
        conflicts["declarations"] = [{"person": "Dr C. Reid", "role": "Clinical lead", "interest": "None",
                                      "declared_on": "2009-03-02"}]
        conflicts["independent_scrutiny"] = {"by": "PCT PbC sub-committee (lay chair)", "date": "2009-03-20",
                                             "conflicted_members_excluded": True}
    if rng.random() < 0.4:  # a weak draft: many gaps, no blocker among them (amber, or worse)
        for where, key in ((governance, "procurement"), (governance, "clinical_governance"), (doc, "strategic_fit"),
                           (governance, "patient_involvement"), (doc, "baseline"), (doc, "activity_shift"),
                           (finance, "assumptions"), (governance, "risk_sharing"), (finance, "funding_source")):
            if rng.random() < 0.6:
                where.pop(key, None)
    return doc


def build_templates(n: int, seed: int, tmp: Path) -> tuple[list[dict], dict]:
    """Submit `n` varied cases through the service; every row it wrote, per case."""
    url = f"sqlite:///{tmp / 'templates.sqlite3'}"
    migrate.upgrade(url)
    db = Database(url)
    ruleset = load_ruleset(DEFAULT_RULES)
    rng = random.Random(seed)
    samples = [loads(p.read_bytes()) for p in sorted(EXAMPLES.glob("*.json"))]
    admin = Principal("bench-admin", "admin", None, "bench")
    ids = []
    for i in range(n):
        document = varied_document(samples, rng, i)
        with db.writing() as session:
            case, _, _ = case_service.submit(session, document=document, raw=dumps(document),
                                             principal=admin, ruleset=ruleset)
            ids.append(case.id)
    templates = []
    with db.engine.connect() as conn:
        ruleset_row = dict(conn.execute(select(StoredRuleset.__table__)).mappings().one())
        for case_id in ids:
            case = dict(conn.execute(select(BusinessCase.__table__).where(BusinessCase.id == case_id)).mappings().one())
            aid = case["latest_assessment_id"]
            templates.append({
                "case": case,
                "revision": dict(conn.execute(select(Revision.__table__).where(Revision.case_id == case_id))
                                 .mappings().one()),
                "assessment": dict(conn.execute(select(StoredAssessment.__table__)
                                                .where(StoredAssessment.id == aid)).mappings().one()),
                "criteria": [dict(r) for r in conn.execute(select(AssessmentCriterion.__table__)
                                                           .where(AssessmentCriterion.assessment_id == aid)).mappings()],
                "failed": [dict(r) for r in conn.execute(select(FailedRule.__table__)
                                                         .where(FailedRule.assessment_id == aid)).mappings()],
            })
            templates[-1]["body"] = BodyTemplate(templates[-1]["assessment"])
    db.dispose()
    return templates, ruleset_row


# -- 2. seeding -----------------------------------------------------------------------------

class BodyTemplate:
    """A stored assessment body with its ids, time and revision cut out, to fill in per clone."""

    def __init__(self, assessment: dict):
        body = assessment["body"]
        self.revision = '"revision": {},' if '"revision": 1,' in body else '"revision":{},'  # spaced or compact
        marks = {assessment["id"]: "id", assessment["case_id"]: "case_id",
                 assessment["assessed_at"].isoformat(): "assessed_at", self.revision.format(1): "revision"}
        self.parts: list[str] = []
        self.slots: list[str] = []
        rest = body
        while True:
            found = [(rest.find(mark), mark) for mark in marks if rest.find(mark) >= 0]
            if not found:
                break
            at, mark = min(found)
            self.parts.append(rest[:at])
            self.slots.append(marks[mark])
            rest = rest[at + len(mark):]
        self.parts.append(rest)
        if {"id", "case_id", "assessed_at", "revision"} - set(self.slots):
            raise AssertionError("an assessment body without its id, case id, time or revision")

    def fill(self, **values: str) -> str:
        out = [self.parts[0]]
        for slot, part in zip(self.slots, self.parts[1:]):
            out.append(values[slot])
            out.append(part)
        return "".join(out)


def clone_rows(templates: list[dict], start: int, count: int, seed: int, now: dt.datetime) -> dict[str, list[dict]]:
    """Rows of cases number start..start+count-1 (deterministic per number)."""
    out: dict[str, list[dict]] = {"business_cases": [], "revisions": [], "assessments": [],
                                  "assessment_criteria": [], "failed_rules": [], "decisions": []}
    span = YEARS * 365 * 86400
    for number in range(start, start + count):
        rng = random.Random(seed * 1_000_003 + number)
        t = templates[rng.randrange(len(templates))]
        case_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        submitted = now - dt.timedelta(seconds=rng.randrange(span), microseconds=rng.randrange(1_000_000))
        due = submitted.date() + dt.timedelta(days=56)
        kind = rng.random()
        revised = 0.55 <= kind < 0.70
        decided = kind >= 0.70
        n_revisions = 2 if revised or (decided and rng.random() < 0.3) else 1
        assessments = []
        when = submitted
        for number_ in range(1, n_revisions + 1):
            if number_ > 1:
                when = when + dt.timedelta(days=rng.randrange(1, 30), seconds=rng.randrange(86400))
            out["revisions"].append({**{k: v for k, v in t["revision"].items() if k != "id"},
                                     "case_id": case_id, "number": number_, "created_at": when})
            aid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            template_assessment = t["assessment"]
            body = t["body"].fill(id=aid, case_id=case_id, assessed_at=when.isoformat(),
                                  revision=t["body"].revision.format(number_))
            out["assessments"].append({**template_assessment, "id": aid, "case_id": case_id, "revision": number_,
                                       "assessed_at": when, "body": body})
            out["assessment_criteria"].extend({**c, "assessment_id": aid} for c in t["criteria"])
            out["failed_rules"].extend({**f, "assessment_id": aid} for f in t["failed"])
            assessments.append(aid)
        case = {**t["case"], "id": case_id, "current_revision": n_revisions, "submitted_at": submitted,
                "updated_at": when, "latest_assessment_id": assessments[-1], "decision_due": due,
                "status": "submitted" if n_revisions == 1 else "revised", "created_by_key_id": None,
                "latest_decision_id": None, "decision_outcome": None, "decided_at": None}
        if decided:
            decided_at = when + dt.timedelta(days=rng.randrange(3, 120), seconds=rng.randrange(86400))
            if decided_at > now:
                decided_at = now - dt.timedelta(seconds=rng.randrange(1, 3600))
            outcome = rng.choice(OUTCOMES)
            decision_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            reasons = ([{"reason": "The savings are not evidenced", "rule_ids": []}]
                       if outcome in ("rejected", "returned_for_revision") else [])
            out["decisions"].append({"id": decision_id, "case_id": case_id, "revision": n_revisions,
                                     "assessment_id": assessments[-1], "outcome": outcome, "note": "",
                                     "reasons": dumps(reasons), "decided_at": decided_at,
                                     "decided_by_key_id": None})
            case.update(status="decided", latest_decision_id=decision_id, decision_outcome=outcome,
                        decided_at=decided_at, updated_at=decided_at,
                        decision_span_us=(decided_at - submitted) // dt.timedelta(microseconds=1))
        out["business_cases"].append(case)
    return out


TABLES = [BusinessCase.__table__, Revision.__table__, StoredAssessment.__table__, AssessmentCriterion.__table__,
          FailedRule.__table__, Decision.__table__]


def _copy_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc)
    return value


def insert_rows(engine, rows: dict[str, list[dict]]) -> None:
    """One transaction. PostgreSQL: COPY. SQLite: executemany of the INSERT SQLAlchemy compiles,
    each value through its column type's own bind processing (what Core's insert() does, without
    its per-row overhead), so the stored values are the ones the service writes."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            cursor = conn.connection.driver_connection.cursor()
            for table in TABLES:
                batch = rows[table.name]
                if not batch:
                    continue
                columns = [c.name for c in table.columns if c.name in batch[0]]
                with cursor.copy(f'COPY "{table.name}" ({", ".join(columns)}) FROM STDIN') as copy_:
                    for row in batch:
                        copy_.write_row([_copy_value(row[c]) for c in columns])
        return
    dialect = engine.dialect
    with engine.begin() as conn:
        for table in TABLES:
            batch = rows[table.name]
            if not batch:
                continue
            columns = [c for c in table.columns if c.name in batch[0]]
            processors = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
            names = [c.name for c in columns]
            sql = (f'INSERT INTO "{table.name}" ({", ".join(names)}) '
                   f'VALUES ({", ".join("?" for _ in names)})')
            plain = [i for i, p in enumerate(processors) if p is None]
            conn.exec_driver_sql(sql, [
                tuple(row[name] if processor is None else processor(row[name])
                      for name, processor in zip(names, processors))
                for row in batch] if len(plain) != len(names) else [tuple(row[n] for n in names) for row in batch])


def seeding_engine(url: str):
    """An engine for bulk loading only: SQLite with a big page cache and no fsync, PostgreSQL
    without waiting for WAL flushes. The rows are the same; the service's own connections are
    configured as always."""
    engine = make_engine(url)

    @event.listens_for(engine, "connect")
    def _bulk(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        if engine.dialect.name == "sqlite":
            cursor.execute("PRAGMA cache_size=-262144")
            cursor.execute("PRAGMA synchronous=OFF")
        else:
            cursor.execute("SET synchronous_commit = off")
            dbapi_connection.commit()
        cursor.close()

    return engine


def settle(engine) -> None:
    """The dashboard's rollups as the services would have kept them, rebuilt from the rows loaded
    in bulk (one INSERT ... SELECT each); then, on PostgreSQL, VACUUM ANALYZE of the tables the
    dashboard reads, as autovacuum would have run after a bulk load by the time a board looks
    (statistics, visibility map). SQLite is left as the service leaves it."""
    with Session(engine) as session, session.begin():
        dashboard_service.rebuild_rollups(session)
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("business_cases", "assessments", "assessment_criteria", "failed_rules", "decisions",
                      "portfolio_cases", "portfolio_criteria", "portfolio_failures"):
            conn.execute(text(f'VACUUM (ANALYZE) "{table}"'))


# -- 3. timing ------------------------------------------------------------------------------

def dashboard_filters(now: dt.datetime, templates: list[dict]) -> list[tuple[str, dict[str, str]]]:
    """Each filter alone, and all four at once (the commonest consortium and service area of the
    templates); dates fall mid-month, on no month boundary."""
    pairs = [(t["case"]["consortium_code"], t["case"]["service_area"]) for t in templates if t["case"]["service_area"]]
    consortium, area = max(set(pairs), key=lambda pair: (pairs.count(pair), pair))
    day = lambda years: (now - dt.timedelta(days=round(365.25 * years))).date().replace(day=17).isoformat()  # noqa: E731
    return [("none", {}),
            ("consortium", {"consortium": "EAS"}),
            ("service_area", {"service_area": "respiratory"}),
            ("submitted_after (last year)", {"submitted_after": day(1)}),
            ("submitted_before (first year)", {"submitted_before": day(4)}),
            ("all four (one year)", {"consortium": consortium, "service_area": area,
                                     "submitted_after": day(3), "submitted_before": day(2)})]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


def time_dashboard(app, key: str, requests: int, filters: list[tuple[str, dict]]) -> dict[str, Any]:
    """Per filter: dashboard and count(*) baseline, interleaved; also the bodies, to compare."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    db = app.extensions["bcapi"].db

    def count() -> None:
        with db.reading() as session:
            session.execute(text("SELECT count(*) FROM business_cases")).scalar_one()

    out: dict[str, Any] = {}
    for label, query in filters:
        def dashboard():
            response = client.get("/api/v1/dashboard", query_string=query, headers=headers)
            assert response.status_code == 200, response.get_data(as_text=True)[:500]
            return response

        body = loads(dashboard().get_data())  # warm
        count()
        dash, base = [], []
        for _ in range(requests):
            t0 = time.perf_counter()
            dashboard()
            t1 = time.perf_counter()
            count()
            t2 = time.perf_counter()
            dash.append((t1 - t0) * 1000)
            base.append((t2 - t1) * 1000)
        out[label] = {"p50": statistics.median(dash), "p95": percentile(dash, 95),
                      "count_p50": statistics.median(base), "cases": body["cases"]["total"],
                      "body": comparable(body), **from_cases(app, query, body)}
    return out


def from_cases(app, query: dict[str, str], body: dict) -> dict[str, Any]:
    """The same dashboard computed from the cases alone (no rollups), once: its time, and
    whether it gives the same figures as the rollups."""
    from bcapi.http.api.dashboard import DashboardArgs
    filters = dashboard_service.PortfolioFilters(**DashboardArgs().load(query))
    state = app.extensions["bcapi"]
    with state.db.reading() as session:
        t0 = time.perf_counter()
        direct = dashboard_service.portfolio(session, filters, state.ruleset, rollups=False)
        seconds = time.perf_counter() - t0
    return {"from_cases_ms": seconds * 1000,
            "from_cases_differences": differences(comparable(body), comparable(loads(dumps(direct))))}


def csv_child(url: str, key: str, tmp: str) -> None:
    """In a fresh process: stream the CSV to the end; time, rows, RSS growth, Python's peak."""
    from bcapi.http.app import create_app
    app = create_app({"BCAPI_DATABASE_URL": url, "BCAPI_INSTANCE_PATH": tmp, "BCAPI_LOG_LEVEL": "WARNING",
                      "BCAPI_RATE_LIMIT": "100000 per minute"})
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    warm = client.get("/api/v1/dashboard/cases.csv?submitted_before=1990-01-01", headers=headers)
    warm.get_data()  # imports, connection, compiled statement: everything but the rows
    tracemalloc.start()
    start_traced = tracemalloc.get_traced_memory()[0]
    start_rss = peak_rss = rss_kb()
    t0 = time.perf_counter()
    response = client.get("/api/v1/dashboard/cases.csv", headers=headers, buffered=False)
    size = lines = 0
    for i, chunk in enumerate(response.response):
        data = chunk.encode() if isinstance(chunk, str) else chunk
        size += len(data)
        lines += data.count(b"\n")
        if i % 200 == 0:
            peak_rss = max(peak_rss, rss_kb())
    response.close()
    seconds = time.perf_counter() - t0
    peak_rss = max(peak_rss, rss_kb())
    peak_traced = tracemalloc.get_traced_memory()[1]
    app.extensions["bcapi"].db.dispose()
    print(json.dumps({"rows": lines - 1, "bytes": size, "seconds": seconds,
                      "rss_growth_kb": peak_rss - start_rss, "traced_peak_kb": (peak_traced - start_traced) // 1024}))


def rss_kb() -> int:
    """The process's resident set now (Linux /proc; else the peak so far)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure_csv(url: str, key: str, tmp: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--csv-child", url, key, str(tmp)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def comparable(body: dict) -> dict:
    """The dashboard without what is expected to differ between two databases (generation time)."""
    return {k: v for k, v in body.items() if k != "generated_at"}


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += differences(a.get(k), b.get(k), f"{path}/{k}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}/{i}")]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def report(results: dict, stages: list[int], n: int) -> None:
    print()
    print(f"{'database':11s} {'cases':>8s} {'filter':30s} {'matched':>8s} {'p50 ms':>8s} {'p95 ms':>8s} "
          f"{'count(*) ms':>11s} {'p50/count(*)':>12s} {'p50/p50@1k':>10s} {'no rollups ms':>13s}")
    for name, by_stage in results.items():
        for stage in stages:
            for label, r in by_stage[stage]["dashboard"].items():
                base = by_stage[stages[0]]["dashboard"][label]["p50"]
                print(f"{name:11s} {stage:8,} {label:30s} {r['cases']:8,} {r['p50']:8.1f} {r['p95']:8.1f} "
                      f"{r['count_p50']:11.2f} {r['p50'] / r['count_p50']:12.1f} {r['p50'] / base:10.2f} "
                      f"{r['from_cases_ms']:13.0f}")
    print()
    for name, by_stage in results.items():
        for stage in stages:
            c = by_stage[stage]["csv"]
            print(f"{name:11s} CSV at {stage:>7,} cases: {c['rows']:,} rows, {c['bytes'] / 1e6:.1f} MB in "
                  f"{c['seconds']:.2f} s ({c['rows'] / c['seconds']:,.0f} rows/s); RSS growth "
                  f"{c['rss_growth_kb'] / 1024:.1f} MB; Python peak allocation {c['traced_peak_kb'] / 1024:.2f} MB")
    print()
    wrong = [f"{name} {stage:,} {label}: {'; '.join(r['from_cases_differences'][:3])}"
             for name, by_stage in results.items() for stage in stages
             for label, r in by_stage[stage]["dashboard"].items() if r["from_cases_differences"]]
    print("dashboard from the rollups = dashboard from the cases alone, every database, size and filter: "
          + ("yes" if not wrong else "NO: " + " | ".join(wrong[:6])))
    for name, by_stage in results.items():
        worst = max(r["p50"] for r in by_stage[n]["dashboard"].values())
        small, large = by_stage[stages[0]]["csv"], by_stage[n]["csv"]
        constant = large["traced_peak_kb"] <= 2 * small["traced_peak_kb"] + 256 and \
            large["rss_growth_kb"] <= 2 * small["rss_growth_kb"] + 8 * 1024
        print(f"target, {name}: slowest dashboard p50 at {n:,} cases {worst:.0f} ms (<= 150 ms: "
              f"{'met' if worst <= 150 else 'NOT met'}); CSV memory "
              f"{'constant' if constant else 'GROWS with the rows'} from {stages[0]:,} to {n:,} cases")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--csv-child":
        csv_child(*sys.argv[2:5])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5,000 cases, fewer requests (well under a minute)")
    parser.add_argument("--cases", type=int, help="cases to seed (default 100,000; quick 5,000)")
    parser.add_argument("--templates", type=int, help="cases submitted through the service to clone (default 300; quick 60)")
    parser.add_argument("--requests", type=int, help="timed requests per filter (default 30; quick 5)")
    parser.add_argument("--seed", type=int, default=2009)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the databases and print where they are")
    args = parser.parse_args()
    n = args.cases or (5_000 if args.quick else 100_000)
    n_templates = args.templates or (60 if args.quick else 300)
    requests = args.requests or (5 if args.quick else 30)
    stages = sorted({min(BASE_STAGE, n), n})

    tmp = Path(tempfile.mkdtemp(prefix="bcapi-bench-dash-"))
    drops, databases = [], [("sqlite", f"sqlite:///{tmp / 'dashboard.sqlite3'}")]
    try:
        print(f"bcapi dashboard benchmark, {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; "
              f"{platform.node()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
              f"Python {platform.python_version()}")
        t0 = time.perf_counter()
        templates, ruleset_row = build_templates(n_templates, args.seed, tmp)
        ratings = {r: sum(t["case"]["rating"] == r for t in templates) for r in ("green", "amber", "red")}
        print(f"{n_templates} template cases submitted through the service in {time.perf_counter() - t0:.1f} s "
              f"(ratings {ratings}); stages {', '.join(f'{s:,}' for s in stages)} cases; "
              f"{requests} timed requests per filter")
        if not args.no_postgres and (pg := scratch_database("bcapi_bench_dash")):
            databases.append(("postgresql", pg[0]))
            drops.append(pg[1])
        now = dt.datetime.now(dt.timezone.utc)
        filters = dashboard_filters(now, templates)
        from bcapi.http.app import create_app
        from bcapi.services.keys import create as create_key
        legs = {}
        for name, url in databases:
            migrate.upgrade(url)
            engine = seeding_engine(url)
            with engine.begin() as conn:
                conn.execute(insert(StoredRuleset.__table__), [ruleset_row])
            app = create_app({"BCAPI_DATABASE_URL": url, "BCAPI_INSTANCE_PATH": str(tmp / name),
                              "BCAPI_LOG_LEVEL": "WARNING", "BCAPI_RATE_LIMIT": "100000 per minute"})
            with app.extensions["bcapi"].db.writing() as session:
                _, key = create_key(session, role="board", label="bench")
            legs[name] = (url, engine, app, key)
        results: dict[str, dict[int, dict]] = {name: {} for name in legs}
        seeded = 0
        for stage in stages:
            seconds = dict.fromkeys(legs, 0.0)
            for first in range(seeded, stage, 5000):  # each batch cloned once, written to every database
                rows = clone_rows(templates, first, min(5000, stage - first), args.seed, now)
                for name, (_, engine, _, _) in legs.items():
                    t0 = time.perf_counter()
                    insert_rows(engine, rows)
                    seconds[name] += time.perf_counter() - t0
            seeded = stage
            for name, (url, engine, app, key) in legs.items():
                t0 = time.perf_counter()
                settle(engine)
                seconds[name] += time.perf_counter() - t0
                timing = time_dashboard(app, key, requests, filters)
                results[name][stage] = {"dashboard": timing, "csv": measure_csv(url, key, tmp)}
                worst = max(timing.values(), key=lambda r: r["p50"])
                print(f"  {name:10s} {stage:>7,} cases (written in {seconds[name]:5.1f} s): dashboard p50 "
                      f"{timing['none']['p50']:.1f} ms unfiltered, slowest filter p50 {worst['p50']:.1f} ms",
                      flush=True)
        for _, engine, app, _ in legs.values():
            app.extensions["bcapi"].db.dispose()
            engine.dispose()
        report(results, stages, n)
        if len(legs) == 2:
            for stage in stages:
                diff = [d for label, _ in filters for d in differences(
                    results["sqlite"][stage]["dashboard"][label]["body"],
                    results["postgresql"][stage]["dashboard"][label]["body"], label)]
                print(f"SQLite and PostgreSQL dashboards at {stage:,} cases, every filter: "
                      + ("identical" if not diff else f"{len(diff)} difference(s): " + "; ".join(diff[:8])))
        return 0
    finally:
        if args.keep:
            print(f"kept: {tmp} " + " ".join(url for _, url in databases))
        else:
            for drop in drops:
                drop()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
