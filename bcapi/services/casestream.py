"""Every case's current document, streamed out of the database for bulk re-assessment.

Rows come in batches (`yield_per`: a server-side cursor on PostgreSQL), and only the current
revision's document text is read, so memory stays constant however many cases are stored.
"""
from __future__ import annotations

from typing import Iterator

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from bcapi.storage.models import BusinessCase, Revision


def count_cases(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(BusinessCase)) or 0


def current_documents(session: Session, *, batch_size: int = 500) -> Iterator[tuple[str, str | None, str]]:
    """(case id, reference, current revision's document text as received), in no set order."""
    query = (select(BusinessCase.id, BusinessCase.reference, Revision.document)
             .join(Revision, and_(Revision.case_id == BusinessCase.id,
                                  Revision.number == BusinessCase.current_revision))
             .execution_options(yield_per=batch_size))
    for case_id, reference, document in session.execute(query):
        yield case_id, reference, document
