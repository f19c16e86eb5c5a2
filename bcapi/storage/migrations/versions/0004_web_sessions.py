"""web sessions

The board's web sessions, kept on the server so that signing out ends them (a signed cookie
alone stays valid until it expires, whoever kept a copy).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 09:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import bcapi.storage.models


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('web_sessions',
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', bcapi.storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', bcapi.storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['key_id'], ['api_keys.id'], name=op.f('fk_web_sessions_key_id_api_keys'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_web_sessions'))
    )
    op.create_index(op.f('ix_web_sessions_key_id'), 'web_sessions', ['key_id'], unique=False)
    op.create_index(op.f('ix_web_sessions_expires_at'), 'web_sessions', ['expires_at'], unique=False)


def downgrade() -> None:
    # Sessions are not data anyone keeps: dropping them signs everyone out, which is what an
    # older version, with no server-side sessions, cannot tell apart from signed in anyway.
    op.drop_index(op.f('ix_web_sessions_expires_at'), table_name='web_sessions')
    op.drop_index(op.f('ix_web_sessions_key_id'), table_name='web_sessions')
    op.drop_table('web_sessions')
