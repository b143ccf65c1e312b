"""Decisioning: rate the book with the champion model, set limits and decisions, raise warnings, publish ratings."""
