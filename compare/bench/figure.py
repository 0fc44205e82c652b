"""The key of one timed figure, shared by the runs that time it and the targets that read it."""

from __future__ import annotations

from typing import NamedTuple


class Figure(NamedTuple):
    """What one timed figure is of: a twin (or a loop or baseline), a dtype, a batch size.  The JSON keys
    it under ``key`` ("manual/float32/64"), which ``parse`` reads back."""

    impl: str
    dtype: str
    batch: int

    @property
    def key(self) -> str:
        return f"{self.impl}/{self.dtype}/{self.batch}"

    @classmethod
    def parse(cls, key: str) -> "Figure":
        impl, dtype, batch = key.split("/")
        return cls(impl, dtype, int(batch))
