"""The board's portfolio: aggregates as JSON, and every case as CSV."""
from __future__ import annotations

from flask import Response, stream_with_context

from bcapi.http.auth import allow
from bcapi.http.csvexport import stream
from bcapi.services import dashboard

from .base import Blueprint
from .context import state
from .schemas import DashboardArgs, DashboardSchema

blp = Blueprint("dashboard", __name__, url_prefix="/api/v1/dashboard",
                description="Portfolio aggregates for PCT boards.")


def _filters(args) -> dashboard.PortfolioFilters:
    return dashboard.PortfolioFilters(**{k: args.get(k) for k in (
        "consortium", "service_area", "submitted_after", "submitted_before")})


@blp.route("", methods=["GET"])
@allow("board", "admin")
@blp.arguments(DashboardArgs, location="query")
@blp.response(200, DashboardSchema)
def portfolio(args):
    """Cases by rating and status, criterion scores, money in play, what fails most, what waits."""
    app = state()
    with app.db.reading() as session:
        return dashboard.portfolio(session, _filters(args), app.ruleset)


@blp.route("/cases.csv", methods=["GET"])
@allow("board", "admin")
@blp.arguments(DashboardArgs, location="query")
@blp.response(200, description="One row a case (UTF-8 with BOM, for Excel).",
              content_type="text/csv")
def cases_csv(args):
    """The portfolio as CSV, one row a case, streamed."""
    return csv_download(_filters(args))


def csv_download(filters: dashboard.PortfolioFilters) -> Response:
    """The CSV response, streamed row by row; the web dashboard's download link serves it too."""
    app = state()

    def generate():
        with app.db.reading() as session:
            yield from stream(dashboard.csv_rows(session, filters, app.ruleset))

    return Response(stream_with_context(generate()), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="bcapi-cases.csv"'})
