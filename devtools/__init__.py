"""Development, test and demo tooling (simulator, synthetic marts, local servers): deployed code never depends on it."""
