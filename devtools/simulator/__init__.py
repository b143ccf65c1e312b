"""Source-system simulator: writes a CRM and a finance database with learnable credit risk.

    python -m ingest.simulate --customers 2000 --start 2024-01-01 --end 2025-06-30 --seed 7 [--dirty-rate 0.01]

Determinism: every random draw is made over a fixed horizon (HORIZON_DAYS from --start), per chunk of
CHUNK_SIZE customers with its own seeded generator, and only then cut at --end: a row whose created_at
lies after the end of --end does not exist yet, and a row's status/updated_at are its state as of then.
So `--end D2` is exactly `--end D1` advanced, and rerunning with a later --end replaces the source
content with the advanced state (that is how daily extraction sees each day's changes, including late
updates whose updated_at is days after the event).

Each customer carries a latent risk z (plus industry/region/size shifts) that sets a yearly default
probability; in the 180 days before a default the customer's stress ramps up, which drives late
payments, disputes, complaints, negative activity outcomes, limit cuts and bureau score decline.

Modules: `customers` (the population and its risk process), `clock` (days as timestamps),
`crm` and `finance` (the tables), `dirty` (bad rows), `write` (the databases), `cli` (the command,
run as `python -m ingest.simulate`).
"""

from devtools.simulator.write import simulate

__all__ = ["simulate"]
