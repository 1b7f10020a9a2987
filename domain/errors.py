"""The domain's error tree.

Every rejection names the rule it enforces (`rule`, a stable slug that the API turns into the
problem type) and, where one is involved, the item code or input field at fault. The API maps
these classes to HTTP statuses in one place (`api/errors.py`); nothing here knows about HTTP.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every rule violation; a rejected command writes no event."""

    rule = "rule-violated"

    def __init__(self, message: str, *, item: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.item = item
        self.field = field


class InvalidInput(DomainError):
    """A value is malformed or out of range (points, declared values, a framework document)."""

    rule = "invalid-input"


class InvalidFramework(InvalidInput):
    """A framework document breaks a structural rule (codes, sums, methods)."""

    rule = "invalid-framework"


class NotFound(DomainError):
    """A framework, cycle, unit, scorecard or item does not exist."""

    rule = "not-found"


class AlreadyExists(DomainError):
    """Something that must be unique (a cycle per province and year, a unit code) already exists."""

    rule = "already-exists"


class PhaseClosed(DomainError):
    """The act is not allowed in the cycle's current phase or after the deadline."""

    rule = "phase-closed"


class DeadlinePassed(PhaseClosed):
    """The unit's deadline for this phase has passed."""

    rule = "deadline-passed"


class ScorecardLocked(PhaseClosed):
    """The scorecard was submitted or locked; the unit can no longer change it."""

    rule = "scorecard-locked"


class ReasonRequired(DomainError):
    """An adjustment, withdrawal, extension or correction was sent without a reason."""

    rule = "reason-required"


class NotPermitted(DomainError):
    """The actor's role or unit does not allow this act on this object."""

    rule = "not-permitted"


class SurveyItemNotSelfScored(DomainError):
    """Survey-fed items take their points from survey imports only."""

    rule = "survey-item-not-self-scored"


class ExplanationNotAllowed(DomainError):
    """Explanations are only for items appraised below the self-score or flagged in round 1."""

    rule = "explanation-not-allowed"


class ReappraisalNotAllowed(DomainError):
    """Round 2 only touches items the unit explained or the appraiser flagged."""

    rule = "reappraisal-not-allowed"


class FrameworkImmutable(DomainError):
    """A published framework never changes; define a new version instead."""

    rule = "framework-immutable"


class StaleVersion(DomainError):
    """The client's expected version is behind the stored one (someone else wrote first)."""

    rule = "stale-version"

    def __init__(self, message: str, *, expected: int, actual: int):
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class WorkflowIncomplete(DomainError):
    """A phase cannot close while some units or items still need an act (listed in the message)."""

    rule = "workflow-incomplete"
