"""Persistence: SQLAlchemy models, repositories (never commit), blobs and migrations."""
