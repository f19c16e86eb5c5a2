"""Schemas of the HTTP resources (CONTRACT §2); they document the API and shape its answers."""
from __future__ import annotations

import datetime as dt

from marshmallow import EXCLUDE, RAISE, Schema, fields, validate

from bcapi.document.fields import Number, Pattern, Text
from bcapi.document.schema import BusinessCaseDocument
from bcapi.engine.model import RATINGS, SEVERITIES, STATUSES

CASE_STATUSES = ("submitted", "revised", "decided")


class Out(Schema):
    """Base of response schemas."""


class FieldErrorSchema(Out):
    pointer = fields.String(metadata={"description": "RFC 6901 JSON pointer to the bad field"})
    detail = fields.String()


class ProblemSchema(Out):
    """An error, as RFC 9457 problem details (`application/problem+json`)."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.List(fields.Nested(FieldErrorSchema))
    request_id = fields.String()


class RulesetRefSchema(Out):
    id = fields.String()
    version = fields.String()
    digest = fields.String(metadata={"description": "sha256 of the ruleset file"})


class CriterionResultSchema(Out):
    id = fields.String()
    title = fields.String()
    weight = Number()
    score = Number(metadata={"description": "0-100"})
    rating = fields.String(validate=validate.OneOf(RATINGS))
    passed = fields.Integer()
    failed = fields.Integer()
    not_applicable = fields.Integer()
    errors = fields.Integer()


class FindingSchema(Out):
    rule_id = fields.String()
    criterion = fields.String()
    severity = fields.String(validate=validate.OneOf(SEVERITIES))
    status = fields.String(validate=validate.OneOf(STATUSES))
    title = fields.String()
    message = fields.String(metadata={"description": "why it failed, with the figures read"})
    fields_ = fields.List(fields.String(), data_key="fields", attribute="fields",
                          metadata={"description": "JSON pointers into the document"})
    guidance = fields.String(metadata={"description": "what to do about it"})
    source = fields.String()


class RatingReasonSchema(Out):
    """One thing that holds the rating below green."""

    rating = fields.String(validate=validate.OneOf(("red", "amber")),
                           metadata={"description": "the rating this reason alone caps the case at"})
    criterion = fields.String(allow_none=True, metadata={"description": "criterion id; null for the overall score"})
    rule_id = fields.String(allow_none=True, metadata={"description": "the failed rule; null for a score"})
    severity = fields.String(allow_none=True, validate=validate.OneOf(SEVERITIES),
                             metadata={"description": "the failed rule's severity; null for a score"})
    reason = fields.String(metadata={"description": "one plain sentence"})


class PathStepSchema(Out):
    """A failed (or erroring) rule to fix on the shortest path to green."""

    rule_id = fields.String()
    criterion = fields.String()
    severity = fields.String(validate=validate.OneOf(SEVERITIES))
    title = fields.String()
    fields_ = fields.List(fields.String(), data_key="fields", attribute="fields",
                          metadata={"description": "JSON pointers into the document"})
    guidance = fields.String(metadata={"description": "what to do about it"})


class AssessmentSchema(Out):
    """What the ruleset says of one revision (or of a dry-run body)."""

    id = fields.String(allow_none=True)
    case_id = fields.String(allow_none=True)
    revision = fields.Integer(allow_none=True)
    ruleset = fields.Nested(RulesetRefSchema)
    assessed_at = fields.String(metadata={"description": "UTC, ISO 8601"})
    rating = fields.String(validate=validate.OneOf(RATINGS))
    score = Number(metadata={"description": "0-100"})
    rating_reasons = fields.List(fields.Nested(RatingReasonSchema), metadata={
        "description": "what holds the rating below green, worst first (red reasons, then amber); "
                       "empty when green"})
    path_to_green = fields.List(fields.Nested(PathStepSchema), metadata={
        "description": "the failed rules that, fixed, would make the case green, in the order to fix "
                       "them: blockers, majors, then the fewest minor rules that lift every score to the "
                       "green threshold; empty when green"})
    criteria = fields.List(fields.Nested(CriterionResultSchema))
    findings = fields.List(fields.Nested(FindingSchema))


class AssessmentSummarySchema(Out):
    id = fields.String()
    revision = fields.Integer()
    assessed_at = fields.String()
    rating = fields.String()
    score = Number()


class ConsortiumRefSchema(Out):
    code = fields.String()
    name = fields.String()


class CaseSummarySchema(Out):
    """A case as listed: identity, status and its latest rating, without the document."""

    id = fields.String()
    reference = fields.String(allow_none=True)
    title = fields.String()
    consortium = fields.Nested(ConsortiumRefSchema)
    service_area = fields.String(allow_none=True)
    status = fields.String(validate=validate.OneOf(CASE_STATUSES))
    revision = fields.Integer(metadata={"description": "current revision number"})
    rating = fields.String(allow_none=True)
    score = Number(allow_none=True)
    submitted_at = fields.String()
    updated_at = fields.String()
    decision_due = fields.String(allow_none=True, metadata={"description": "date the decision is due (8-week clock)"})
    overdue = fields.Boolean(metadata={"description": "awaiting a decision past decision_due"})
    decision = fields.Dict(allow_none=True, metadata={"description": "latest decision: outcome, decided_at"})


class CaseSchema(CaseSummarySchema):
    """A case: its current document exactly as received, and its latest assessment."""

    document = fields.Raw(metadata={"description": "the current revision exactly as received (BusinessCaseDocument)"})
    latest_assessment = fields.Nested(AssessmentSchema, allow_none=True)


class CaseListSchema(Out):
    items = fields.List(fields.Nested(CaseSummarySchema))
    next = fields.String(allow_none=True, metadata={"description": "URL of the next page, or null"})


class RevisionSummarySchema(Out):
    case_id = fields.String()
    number = fields.Integer()
    created_at = fields.String()
    digest = fields.String(metadata={"description": "sha256 of the document as received"})


class RevisionSchema(RevisionSummarySchema):
    document = fields.Raw(metadata={"description": "the document exactly as received"})


class RevisionListSchema(Out):
    items = fields.List(fields.Nested(RevisionSummarySchema))


class AssessmentListSchema(Out):
    items = fields.List(fields.Nested(AssessmentSchema))


class RuleSchema(Out):
    id = fields.String()
    criterion = fields.String()
    severity = fields.String()
    title = fields.String()
    guidance = fields.String()
    source = fields.String()
    fields_ = fields.List(fields.String(), data_key="fields", attribute="fields")


class CriterionSchema(Out):
    id = fields.String()
    title = fields.String()
    weight = Number()


class RulesetSchema(Out):
    """The active ruleset: everything a commissioner needs to know how cases are judged."""

    id = fields.String()
    version = fields.String()
    title = fields.String()
    digest = fields.String()
    criteria = fields.List(fields.Nested(CriterionSchema))
    thresholds = fields.Dict(keys=fields.String(), values=Number())
    severity_weights = fields.Dict(keys=fields.String(), values=Number())
    parameters = fields.Dict(keys=fields.String(), values=fields.Raw())
    rules = fields.List(fields.Nested(RuleSchema))


class Instant(fields.String):
    """A query-string instant: `2010-04-01` or `2010-04-01T09:30:00+01:00`, as aware UTC."""

    default_error_messages = {"instant": "Not an ISO 8601 date or date-time."}

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError as exc:
            raise self.make_error("instant") from exc
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.timezone.utc)
        try:
            return parsed.astimezone(dt.timezone.utc)
        except OverflowError as exc:  # 0001-01-01T00:00+01:00 has no UTC instant
            raise self.make_error("instant") from exc


class CaseListArgs(Schema):
    """Filters of GET /cases."""

    class Meta:
        unknown = EXCLUDE

    consortium = fields.String(validate=validate.Length(max=16))
    rating = fields.String(validate=validate.OneOf(RATINGS))
    status = fields.String(validate=validate.OneOf(CASE_STATUSES))
    service_area = fields.String(validate=validate.Length(max=80))
    submitted_after = Instant(metadata={"description": "ISO 8601 date or date-time (UTC if no offset); inclusive"})
    submitted_before = Instant(metadata={"description": "ISO 8601 date or date-time (UTC if no offset); exclusive"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=100))
    cursor = fields.String(validate=validate.Length(max=200))


DocumentSchema = BusinessCaseDocument


class ReasonSchema(Schema):
    class Meta:
        unknown = RAISE

    reason = Text(2000, min_length=1, required=True)
    rule_ids = fields.List(fields.String(validate=validate.Length(max=64)), load_default=list,
                           validate=validate.Length(max=100),
                           metadata={"description": "rules of the latest assessment this reason rests on"})


class DecisionRequestSchema(Schema):
    """A board's decision; `rejected` and `returned_for_revision` need reasons."""

    class Meta:
        unknown = RAISE

    outcome = fields.String(required=True, validate=validate.OneOf(
        ("approved", "rejected", "deferred", "returned_for_revision")))
    note = Text(10_000, load_default="")
    reasons = fields.List(fields.Nested(ReasonSchema), load_default=list, validate=validate.Length(max=50))


class DecisionSchema(Out):
    id = fields.String()
    case_id = fields.String()
    revision = fields.Integer(metadata={"description": "the revision decided on"})
    assessment_id = fields.String(allow_none=True, metadata={"description": "the assessment decided on"})
    outcome = fields.String()
    note = fields.String()
    reasons = fields.List(fields.Nested(ReasonSchema))
    decided_at = fields.String()
    decided_by = fields.String(allow_none=True, metadata={"description": "id of the key that decided"})


class DecisionListSchema(Out):
    items = fields.List(fields.Nested(DecisionSchema))


class KeyRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    role = fields.String(required=True, validate=validate.OneOf(("commissioner", "board", "admin")))
    consortium = fields.String(validate=Pattern(r"^[A-Z0-9-]{2,16}$"))
    label = Text(200)
    expires_at = fields.AwareDateTime(metadata={"description": "ISO 8601 with offset; omit for no expiry"})


class KeySchema(Out):
    id = fields.String()
    prefix = fields.String(metadata={"description": "the key's first characters, to recognise it"})
    role = fields.String()
    consortium = fields.String(allow_none=True)
    label = fields.String(allow_none=True)
    state = fields.String(metadata={"description": "active, expired or revoked"})
    created_at = fields.String()
    expires_at = fields.String(allow_none=True)
    revoked_at = fields.String(allow_none=True)
    last_used_at = fields.String(allow_none=True)


class NewKeySchema(KeySchema):
    key = fields.String(metadata={"description": "the key itself: shown this once, never again"})


class KeyListSchema(Out):
    items = fields.List(fields.Nested(KeySchema))


class AuditEventSchema(Out):
    id = fields.Integer()
    occurred_at = fields.String()
    action = fields.String()
    actor = fields.Dict(metadata={"description": "key_id, label, role"})
    case_id = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    details = fields.Dict()


class AuditListSchema(Out):
    items = fields.List(fields.Nested(AuditEventSchema))
    next = fields.String(allow_none=True)


class AuditArgs(Schema):
    class Meta:
        unknown = EXCLUDE

    action = fields.String(validate=validate.Length(max=32))
    case_id = fields.String(validate=validate.Length(max=36))
    actor = fields.String(validate=validate.Length(max=36), metadata={"description": "key id"})
    since = Instant()
    until = Instant()
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=100))
    before = fields.Integer(validate=validate.Range(min=1, max=2**63 - 1), metadata={"description": "page cursor"})


class DashboardArgs(Schema):
    """Filters of the dashboard and its CSV."""

    class Meta:
        unknown = EXCLUDE

    consortium = fields.String(validate=validate.Length(max=16))
    service_area = fields.String(validate=validate.Length(max=80))
    submitted_after = Instant(metadata={"description": "inclusive"})
    submitted_before = Instant(metadata={"description": "exclusive"})


class DashboardSchema(Out):
    """Portfolio aggregates over each case's latest assessment."""

    generated_at = fields.String()
    filters = fields.Dict()
    cases = fields.Dict(metadata={"description": "total, by_rating, by_status"})
    criteria = fields.List(fields.Dict(), metadata={"description": "id, title, mean_score, red, cases"})
    money = fields.Dict(metadata={"description": "total_investment, total_savings, net, by_consortium, by_service_area"})
    failing_rules = fields.List(fields.Dict(), metadata={"description": "rule_id, criterion, severity, count, cases"})
    timeliness = fields.Dict(metadata={"description": "awaiting, overdue, median_days_to_decision"})
    trend = fields.List(fields.Dict(), metadata={"description": "month, submitted, green, amber, red"})
