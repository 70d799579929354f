"""Storage of screenings, contact requests and handoff requests (SQLAlchemy)."""
