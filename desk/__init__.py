"""The credit desk: order-time credit checks, the review queue, limit overrides, roles and audit."""
