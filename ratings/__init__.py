"""Decisioning: rate the book with the champion, set limits and decisions, raise warnings, publish ratings."""
