"""Survey-specific refusals: a file is refused as a whole, with every faulty row listed."""

from __future__ import annotations

from typing import Any

from domain.errors import InvalidInput

MAX_LISTED = 1000  # rows listed in a report; the counts are always complete


class SurveyRejected(InvalidInput):
    """The file (or its header, encoding, sheets, size) is unusable: nothing was imported.

    `errors` lists the faults, each {"row", "column", "code", "message"} (row = the spreadsheet
    row, the header being row 1; None for faults of the whole file); `error_count` counts them
    all even when the list stops at `MAX_LISTED`."""

    rule = "survey-rejected"

    def __init__(self, errors: list[dict[str, Any]], error_count: int | None = None,
                 *, field: str = "file"):
        self.errors = errors
        self.error_count = len(errors) if error_count is None else error_count
        shown = "; ".join(_describe(e) for e in errors[:3])
        more = f" (+{self.error_count - 3} more)" if self.error_count > 3 else ""
        super().__init__(f"the survey file was refused, nothing was imported: {shown}{more}",
                         field=field)

    @classmethod
    def one(cls, code: str, message: str, *, row: int | None = None,
            column: str | None = None, **extra: Any) -> SurveyRejected:
        return cls([fault(code, message, row=row, column=column, **extra)])

    def report(self) -> dict[str, Any]:
        return {"error_count": self.error_count, "errors": self.errors,
                "listed": len(self.errors)}


def fault(code: str, message: str, *, row: int | None = None, column: str | None = None,
          **extra: Any) -> dict[str, Any]:
    return {"row": row, "column": column, "code": code, "message": message, **extra}


def _describe(error: dict[str, Any]) -> str:
    where = []
    if error.get("row") is not None:
        where.append(f"row {error['row']}")
    if error.get("column"):
        where.append(f"column {error['column']}")
    return (", ".join(where) + ": " if where else "") + str(error["message"])
