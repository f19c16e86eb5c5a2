"""Use cases over the database: no HTTP here, no SQL in the views."""
