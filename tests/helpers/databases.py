"""The databases one pipeline test runs on."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class PipelineDatabases:
    """Three fresh databases of one test: the warehouse and the two source systems."""

    warehouse: str
    crm_source: str
    finance_source: str
