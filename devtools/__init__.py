"""Development, test and demo tooling: source simulator, synthetic marts, local servers; never deployed code's dependency."""
