"""What every registered, versioned object shares: its name, its version and its label."""

from __future__ import annotations

from typing import Any, Dict


class Versioned:
    """A registered definition (``spec``) of one version of a named object."""

    def __init__(self, spec: Dict[str, Any]) -> None:
        self.spec = spec
        """The registered definition, as the catalog lists it."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r})"

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def version(self) -> int:
        return int(self.spec["version"])

    @property
    def label(self) -> str:
        """``NAME:VERSION``."""
        return f"{self.name}:{self.version}"
