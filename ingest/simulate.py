"""`python -m ingest.simulate`: the source simulator's command, kept under its documented name.

The simulator is development tooling and lives in `devtools.simulator`; this module only forwards the
command line to it (same flags, same output), so nothing here loads it when the package is imported.
"""

if __name__ == "__main__":
    from devtools.simulator.cli import main

    main()
