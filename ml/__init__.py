"""Credit models: training, evaluation, registry, scoring, ratings, limits and warnings."""
