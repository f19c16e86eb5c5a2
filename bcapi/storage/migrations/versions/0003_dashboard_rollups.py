"""dashboard rollups

The board's dashboard read every criterion score and failed rule of every case's latest
assessment on each request (seconds at 100,000 cases). Three rollup tables keep those counts
and sums by consortium, service area and month of submission, changed with every write that
changes what a case counts for (services.dashboard.keeping_rollups). This fills them from the
cases already stored, with the same grouping as services.dashboard's `_case_groups`,
`_criterion_groups` and `_failure_groups` (tests/test_migrations.py checks the two agree).

Also: each decided case's time to decision in microseconds, indexed, for the median; an index
on (decision_due, status, decision_outcome) for the overdue count, and on (consortium_code or
service_area, submitted_at, id) for a filtered dashboard's newest cases; they replace the
single-column indexes on decision_due, consortium_code and service_area.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 21:40:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('portfolio_cases',
    sa.Column('consortium_code', sa.String(length=16), nullable=False),
    sa.Column('consortium_name', sa.String(length=200), nullable=False),
    sa.Column('service_area', sa.String(length=80), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('cases', sa.Integer(), nullable=False),
    sa.Column('green', sa.Integer(), nullable=False),
    sa.Column('amber', sa.Integer(), nullable=False),
    sa.Column('red', sa.Integer(), nullable=False),
    sa.Column('submitted', sa.Integer(), nullable=False),
    sa.Column('revised', sa.Integer(), nullable=False),
    sa.Column('decided', sa.Integer(), nullable=False),
    sa.Column('awaiting', sa.Integer(), nullable=False),
    sa.Column('investment_pennies', sa.BigInteger(), nullable=False),
    sa.Column('savings_pennies', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('consortium_code', 'consortium_name', 'service_area', 'month',
                            name=op.f('pk_portfolio_cases'))
    )
    op.create_table('portfolio_criteria',
    sa.Column('consortium_code', sa.String(length=16), nullable=False),
    sa.Column('service_area', sa.String(length=80), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('criterion', sa.String(length=64), nullable=False),
    sa.Column('cases', sa.Integer(), nullable=False),
    sa.Column('score_tenths', sa.BigInteger(), nullable=False),
    sa.Column('red', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('consortium_code', 'service_area', 'month', 'criterion',
                            name=op.f('pk_portfolio_criteria'))
    )
    op.create_table('portfolio_failures',
    sa.Column('consortium_code', sa.String(length=16), nullable=False),
    sa.Column('service_area', sa.String(length=80), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('rule_id', sa.String(length=64), nullable=False),
    sa.Column('criterion', sa.String(length=64), nullable=False),
    sa.Column('severity', sa.String(length=8), nullable=False),
    sa.Column('cases', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('consortium_code', 'service_area', 'month', 'rule_id', 'criterion', 'severity',
                            name=op.f('pk_portfolio_failures'))
    )
    op.create_index('ix_portfolio_failures_rule', 'portfolio_failures',
                    ['rule_id', 'criterion', 'severity', 'consortium_code', 'service_area', 'month', 'cases'])
    op.add_column('business_cases', sa.Column('decision_span_us', sa.BigInteger(), nullable=True))
    op.create_index(op.f('ix_business_cases_decision_span_us'), 'business_cases', ['decision_span_us'])
    op.drop_index('ix_business_cases_decision_due', table_name='business_cases')
    op.create_index('ix_business_cases_due_status', 'business_cases', ['decision_due', 'status', 'decision_outcome'])
    op.drop_index('ix_business_cases_consortium_code', table_name='business_cases')
    op.create_index('ix_business_cases_consortium_submitted', 'business_cases',
                    ['consortium_code', 'submitted_at', 'id'])
    op.drop_index('ix_business_cases_service_area', table_name='business_cases')
    op.create_index('ix_business_cases_area_submitted', 'business_cases', ['service_area', 'submitted_at', 'id'])
    _fill_decision_spans()
    _fill_rollups()


def _fill_decision_spans() -> None:
    """decided_at - submitted_at in microseconds, exactly (SQLite keeps the times as text with
    six-digit fractions; julianday() would round them)."""
    if op.get_bind().dialect.name == "sqlite":
        span = ("(CAST(strftime('%s', decided_at) AS INTEGER) - CAST(strftime('%s', submitted_at) AS INTEGER))"
                " * 1000000 + CAST(substr(decided_at, 21, 6) AS INTEGER) - CAST(substr(submitted_at, 21, 6) AS INTEGER)")
    else:
        span = "CAST(EXTRACT(EPOCH FROM (decided_at - submitted_at)) * 1000000 AS BIGINT)"
    op.execute(f"UPDATE business_cases SET decision_span_us = {span} WHERE decided_at IS NOT NULL")


def _fill_rollups() -> None:
    """The rollups of the cases already stored."""
    if op.get_bind().dialect.name == "sqlite":
        month = "strftime('%Y-%m', c.submitted_at)"
    else:
        month = "to_char(timezone('UTC', c.submitted_at), 'YYYY-MM')"
    bucket = f"c.consortium_code, coalesce(c.service_area, ''), {month}"
    scaled = "CAST(round(coalesce({}, 0) * {}) AS BIGINT)"
    count_if = "sum(CASE WHEN {} THEN 1 ELSE 0 END)"
    op.execute(f"""
        INSERT INTO portfolio_cases (consortium_code, consortium_name, service_area, month, cases, green, amber, red,
                                     submitted, revised, decided, awaiting, investment_pennies, savings_pennies)
        SELECT c.consortium_code, c.consortium_name, coalesce(c.service_area, ''), {month}, count(*),
               {count_if.format("c.rating = 'green'")}, {count_if.format("c.rating = 'amber'")},
               {count_if.format("c.rating = 'red'")}, {count_if.format("c.status = 'submitted'")},
               {count_if.format("c.status = 'revised'")}, {count_if.format("c.status = 'decided'")},
               {count_if.format("c.status != 'decided' OR c.decision_outcome = 'deferred'")},
               sum({scaled.format('c.total_investment', 100)}), sum({scaled.format('c.total_savings', 100)})
        FROM business_cases c
        GROUP BY c.consortium_code, c.consortium_name, coalesce(c.service_area, ''), {month}""")
    op.execute(f"""
        INSERT INTO portfolio_criteria (consortium_code, service_area, month, criterion, cases, score_tenths, red)
        SELECT {bucket}, a.criterion, count(*), sum({scaled.format('a.score', 10)}), {count_if.format("a.rating = 'red'")}
        FROM assessment_criteria a JOIN business_cases c ON c.latest_assessment_id = a.assessment_id
        GROUP BY {bucket}, a.criterion""")
    op.execute(f"""
        INSERT INTO portfolio_failures (consortium_code, service_area, month, rule_id, criterion, severity, cases)
        SELECT {bucket}, f.rule_id, f.criterion, f.severity, count(*)
        FROM failed_rules f JOIN business_cases c ON c.latest_assessment_id = f.assessment_id
        GROUP BY {bucket}, f.rule_id, f.criterion, f.severity""")


def downgrade() -> None:
    op.drop_index('ix_business_cases_area_submitted', table_name='business_cases')
    op.create_index(op.f('ix_business_cases_service_area'), 'business_cases', ['service_area'])
    op.drop_index('ix_business_cases_consortium_submitted', table_name='business_cases')
    op.create_index(op.f('ix_business_cases_consortium_code'), 'business_cases', ['consortium_code'])
    op.drop_index('ix_business_cases_due_status', table_name='business_cases')
    op.create_index(op.f('ix_business_cases_decision_due'), 'business_cases', ['decision_due'])
    op.drop_index(op.f('ix_business_cases_decision_span_us'), table_name='business_cases')
    # Not batch mode: on SQLite that copies business_cases and drops the original, and dropping
    # it would cascade to every assessment. SQLite (3.35+) drops a column in place.
    op.drop_column('business_cases', 'decision_span_us')
    op.drop_index('ix_portfolio_failures_rule', table_name='portfolio_failures')
    op.drop_table('portfolio_failures')
    op.drop_table('portfolio_criteria')
    op.drop_table('portfolio_cases')
