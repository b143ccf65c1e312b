"""Source ingestion: simulator, connectors (SQL source, file drop), COPY loader, quarantine and audit."""
