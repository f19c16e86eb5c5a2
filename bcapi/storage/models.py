"""Database tables, in SQLAlchemy 2.0 typed style.

Timestamps are timezone-aware UTC; money is `Numeric(14, 2)`; constraint names follow one
convention so that Alembic migrations come out the same on SQLite and PostgreSQL.
A revision's `document` is the request body exactly as received, never rewritten.
"""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import (BigInteger, Date, DateTime, ForeignKey, Index, Integer, MetaData, Numeric, String,
                        Text, TypeDecorator, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out, on every database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


Money = Numeric(14, 2)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ApiKey(Base):
    """A client's credential. Only the SHA-256 of the key is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16))
    consortium_code: Mapped[str | None] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class StoredRuleset(Base):
    """A ruleset file by content digest, so any past assessment can be reproduced."""

    __tablename__ = "rulesets"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    ruleset_id: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    loaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class BusinessCase(Base):
    """A case and what its current revision and latest assessment say, for listing and dashboards."""

    __tablename__ = "business_cases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    consortium_code: Mapped[str] = mapped_column(String(16))
    consortium_name: Mapped[str] = mapped_column(String(200))
    reference: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    service_area: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(32), index=True)
    current_revision: Mapped[int] = mapped_column(Integer)
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by_key_id: Mapped[str | None] = mapped_column(String(36))
    latest_assessment_id: Mapped[str | None] = mapped_column(String(36))
    rating: Mapped[str | None] = mapped_column(String(8), index=True)
    score: Mapped[Decimal | None] = mapped_column(Numeric(5, 1))
    total_investment: Mapped[Decimal | None] = mapped_column(Money)
    total_savings: Mapped[Decimal | None] = mapped_column(Money)
    # The decision clock (DH 2009: decide within 8 weeks), restarted by a revision after a decision.
    decision_due: Mapped[dt.date | None] = mapped_column(Date)
    latest_decision_id: Mapped[str | None] = mapped_column(String(36))
    decision_outcome: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # decided_at - submitted_at in microseconds, exact on every database and indexed, for the
    # dashboard's median time to a decision.
    decision_span_us: Mapped[int | None] = mapped_column(BigInteger, index=True)

    __table_args__ = (
        Index("ix_business_cases_submitted_at_id", "submitted_at", "id"),
        # A consortium's or service area's cases, newest first (the dashboard's example cases).
        Index("ix_business_cases_consortium_submitted", "consortium_code", "submitted_at", "id"),
        Index("ix_business_cases_area_submitted", "service_area", "submitted_at", "id"),
        # The dashboard's overdue count reads this index alone (cases due before today, and
        # whether each still waits for the board).
        Index("ix_business_cases_due_status", "decision_due", "status", "decision_outcome"),
    )


class Revision(Base):
    """One version of a case's document, immutable once written."""

    __tablename__ = "revisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("business_cases.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    document: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_key_id: Mapped[str | None] = mapped_column(String(36))

    __table_args__ = (UniqueConstraint("case_id", "number", name="uq_revisions_case_id_number"),)


class StoredAssessment(Base):
    """An assessment of one revision under one ruleset; `body` is the Assessment as served."""

    __tablename__ = "assessments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("business_cases.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    ruleset_digest: Mapped[str] = mapped_column(ForeignKey("rulesets.digest"))
    assessed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    rating: Mapped[str] = mapped_column(String(8))
    score: Mapped[Decimal] = mapped_column(Numeric(5, 1))
    total_investment: Mapped[Decimal | None] = mapped_column(Money)
    total_savings: Mapped[Decimal | None] = mapped_column(Money)
    body: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_assessments_case_id_assessed_at", "case_id", "assessed_at"),)


class AssessmentCriterion(Base):
    """Per-criterion score of an assessment, for dashboard aggregation in SQL."""

    __tablename__ = "assessment_criteria"

    assessment_id: Mapped[str] = mapped_column(
        ForeignKey("assessments.id", ondelete="CASCADE"), primary_key=True)
    criterion: Mapped[str] = mapped_column(String(64), primary_key=True)
    score: Mapped[Decimal] = mapped_column(Numeric(5, 1))
    rating: Mapped[str] = mapped_column(String(8))


class FailedRule(Base):
    """A rule an assessment failed (or could not evaluate), for 'what fails most'."""

    __tablename__ = "failed_rules"

    assessment_id: Mapped[str] = mapped_column(
        ForeignKey("assessments.id", ondelete="CASCADE"), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    criterion: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))


class PortfolioCases(Base):
    """Dashboard rollup: every case counted once, under the consortium, service area ('' for none)
    and UTC month of submission it has now, with its latest assessment's rating and money.

    Kept by `services.dashboard.keeping_rollups` in the transaction of every change to what a case
    counts for; `services.dashboard.rebuild_rollups` (and migration 0003) fill it from the cases.
    Money is in pennies and scores in tenths, as integers, so that sums are exact on every database.
    A row whose `cases` has fallen to 0 stays, and is read as absent.
    """

    __tablename__ = "portfolio_cases"

    consortium_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    consortium_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    service_area: Mapped[str] = mapped_column(String(80), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    cases: Mapped[int] = mapped_column(Integer)
    green: Mapped[int] = mapped_column(Integer)
    amber: Mapped[int] = mapped_column(Integer)
    red: Mapped[int] = mapped_column(Integer)
    submitted: Mapped[int] = mapped_column(Integer)
    revised: Mapped[int] = mapped_column(Integer)
    decided: Mapped[int] = mapped_column(Integer)
    awaiting: Mapped[int] = mapped_column(Integer)
    investment_pennies: Mapped[int] = mapped_column(BigInteger)
    savings_pennies: Mapped[int] = mapped_column(BigInteger)


class PortfolioCriterion(Base):
    """Dashboard rollup of `assessment_criteria` over each case's latest assessment."""

    __tablename__ = "portfolio_criteria"

    consortium_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    service_area: Mapped[str] = mapped_column(String(80), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    criterion: Mapped[str] = mapped_column(String(64), primary_key=True)
    cases: Mapped[int] = mapped_column(Integer)
    score_tenths: Mapped[int] = mapped_column(BigInteger)
    red: Mapped[int] = mapped_column(Integer)


class PortfolioFailure(Base):
    """Dashboard rollup of `failed_rules` over each case's latest assessment ('what fails most')."""

    __tablename__ = "portfolio_failures"

    consortium_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    service_area: Mapped[str] = mapped_column(String(80), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    criterion: Mapped[str] = mapped_column(String(64), primary_key=True)
    severity: Mapped[str] = mapped_column(String(8), primary_key=True)
    cases: Mapped[int] = mapped_column(Integer)

    # Rows in rule order, with every column: 'what fails most' is summed from this index alone,
    # without sorting (there are tens of rows a month for each consortium and service area).
    __table_args__ = (Index("ix_portfolio_failures_rule", "rule_id", "criterion", "severity", "consortium_code",
                            "service_area", "month", "cases"),)


class Decision(Base):
    """A board's decision on a case, tied to the revision and assessment it was made on."""

    __tablename__ = "decisions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("business_cases.id", ondelete="CASCADE"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    assessment_id: Mapped[str | None] = mapped_column(String(36))
    outcome: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text)
    reasons: Mapped[str] = mapped_column(Text)  # JSON list of {reason, rule_ids}
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by_key_id: Mapped[str | None] = mapped_column(String(36))


class AuditEvent(Base):
    """One state change: who did what, when, to which case, in which request. Append-only.

    `details` is a small JSON object (revision numbers, outcome, rating); never a key, never a
    document.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(32), index=True)
    actor_key_id: Mapped[str | None] = mapped_column(String(36), index=True)
    actor_label: Mapped[str | None] = mapped_column(String(200))
    actor_role: Mapped[str | None] = mapped_column(String(16))
    case_id: Mapped[str | None] = mapped_column(String(36), index=True)
    request_id: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[str] = mapped_column(Text, default="{}")


class IdempotencyRecord(Base):
    """The first answer to a POST made with an `Idempotency-Key`, replayed on retries."""

    __tablename__ = "idempotency_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    api_key_id: Mapped[str] = mapped_column(String(36))
    key: Mapped[str] = mapped_column(String(255))
    request_digest: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # in_flight | done
    case_id: Mapped[str | None] = mapped_column(String(36))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("api_key_id", "key", name="uq_idempotency_records_api_key_id_key"),)


class WebSession(Base):
    """A signed-in board member's session on the web pages, so that signing out ends it on the
    server: the cookie carries a random id, this table its SHA-256 (a copy of the table opens no
    session). Deleted at sign-out, and with the key; refused once `expires_at` has passed."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
