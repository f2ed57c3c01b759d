"""A finding of the policy linter or compiler (its own module: both produce them)."""
from dataclasses import asdict, dataclass


@dataclass
class Finding:
    """One problem lint or the compiler found. ``level`` error blocks the bundle."""

    level: str
    file: str
    rule_id: str | None
    message: str

    def __str__(self):
        where = self.file + (f" [{self.rule_id}]" if self.rule_id else "")
        return f"{where}: {self.level}: {self.message}"

    def as_dict(self):
        return asdict(self)
