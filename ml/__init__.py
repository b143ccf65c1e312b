"""Credit models: training set, candidates, evaluation, registry and promotion gate, scoring model, scale."""
