"""ParIndex: the service layer. Each command loads aggregates, calls the domain, saves once.

One save is one transaction: a command that touches several aggregates (enrolment creates the
scorecards, a phase change locks overdue sheets, a survey import fills every unit) is atomic, and
a rejected command writes nothing. Every command returns the global position of its last event so
clients can read their own writes from the projections.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, JSONTranscoder
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

from domain.access.model import AccessToken, new_secret, token_hash, token_id
from domain.actors import Actor, Role
from domain.base import ParAggregate
from domain.cycle.model import AssessmentCycle, UnitContext, cycle_id
from domain.cycle.phases import Phase, RankingRule
from domain.errors import AlreadyExists, InvalidInput, NotFound, StaleVersion
from domain.framework.model import Framework
from domain.framework.structure import FrameworkTree
from domain.scorecard.model import AppraisalEntry, Scorecard, SelfScoreEntry
from domain.scorecard.state import Decision
from domain.scoring import ScoreSheet
from domain.store.blobs import StoredBlob
from domain.store.config import APP_NAME, StoreSettings
from domain.store.repository import FoldingRepository
from domain.store.transcodings import register_parindex_transcodings

A = TypeVar("A", bound=ParAggregate)
T = TypeVar("T")
# A command that lost a race reloads and runs again; jittered back-off spreads the retries of
# many writers on one scorecard (the store serialises their saves anyway).
RETRIES = 30
BACKOFF_SECONDS = 0.005


class StoreMisconfigured(Exception):
    """The library built a recorder other than the one the settings asked for."""


@dataclass(frozen=True)
class CommandResult:
    aggregate_id: UUID
    version: int
    position: int | None  # global position of the last event written; None if nothing changed


class ParIndex(Application):
    """Frameworks, cycles and scorecards of parindex, over one event store."""

    name = APP_NAME  # pinned: renaming the class must never rename tables
    snapshotting_intervals = {Scorecard: 100}  # noqa: RUF012 (the library reads a class dict)
    env = {"AGGREGATE_CACHE_MAXSIZE": "2000"}  # noqa: RUF012  fast-forwarded on every get

    def __init__(self, settings: StoreSettings,
                 clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(env=settings.library_env)
        expected = {"sqlite": SQLiteApplicationRecorder,
                    "postgresql": PostgresApplicationRecorder}[settings.kind]
        if not isinstance(self.recorder, expected):
            raise StoreMisconfigured(f"expected a {expected.__name__}, got "
                                     f"{type(self.recorder).__name__}; refusing to run")
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self._trees: dict[UUID, FrameworkTree] = {}

    def construct_repository(self) -> FoldingRepository:
        return FoldingRepository.like(super().construct_repository())

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_parindex_transcodings(transcoder)

    # -- plumbing -----------------------------------------------------------------------------

    def _get(self, cls: type[A], aggregate_id: UUID, what: str, *,
             read_only: bool = False) -> A:
        """Load an aggregate. `read_only` skips the cache's defensive deep copy (a cycle of 80
        units costs milliseconds to copy): the caller must not change what it gets."""
        try:
            aggregate = self.repository.get(aggregate_id, deepcopy_from_cache=not read_only)
        except AggregateNotFoundError:
            raise NotFound(f"{what} {aggregate_id} does not exist") from None
        if not isinstance(aggregate, cls):
            raise NotFound(f"{what} {aggregate_id} does not exist")
        return aggregate

    def _save(self, *aggregates: ParAggregate) -> int | None:
        recordings = self.save(*aggregates)
        return recordings[-1].notification.id if recordings else None

    def _create(self, aggregate: A, what: str) -> CommandResult:
        try:
            position = self._save(aggregate)
        except IntegrityError:
            raise AlreadyExists(f"{what} already exists") from None
        return CommandResult(aggregate.id, aggregate.version, position)

    def _retrying(self, attempt: Callable[[], T], what: str) -> T:
        """Run load-change-save again while a concurrent writer keeps winning the race."""
        for retry in range(RETRIES):
            try:
                return attempt()
            except IntegrityError:
                time.sleep(random.uniform(0, BACKOFF_SECONDS * (retry + 1)))
        raise StaleVersion(f"{what} kept changing during {RETRIES} attempts; try again",
                           expected=-1, actual=-1)

    def _change(self, cls: type[A], aggregate_id: UUID, what: str,
                expected_version: int | None, change: Callable[[A], Iterable[ParAggregate]]
                ) -> CommandResult:
        """Load, change, save; on a concurrent write, reload and retry unless the client
        pinned a version (then the conflict is the client's to resolve)."""

        def attempt() -> CommandResult:
            aggregate = self._get(cls, aggregate_id, what)
            if expected_version is not None and aggregate.version != expected_version:
                raise StaleVersion(f"{what} is at version {aggregate.version}, not "
                                   f"{expected_version}", expected=expected_version,
                                   actual=aggregate.version)
            others = list(change(aggregate) or ())
            try:
                position = self._save(aggregate, *others)
            except IntegrityError:
                if expected_version is not None:
                    raise StaleVersion(f"{what} changed while this command ran",
                                       expected=expected_version,
                                       actual=expected_version + 1) from None
                raise
            return CommandResult(aggregate.id, aggregate.version, position)

        return self._retrying(attempt, what)

    # -- access tokens ------------------------------------------------------------------------

    def issue_token(self, actor: Actor, holder: str, role: Role,
                    unit_code: str | None = None) -> tuple[str, CommandResult]:
        """Issue a bearer token; the secret is returned once and only its hash is kept."""
        secret = new_secret()
        token = AccessToken.issue(actor, secret, holder, role, unit_code)
        return secret, self._create(token, "token")

    def revoke_token(self, actor: Actor, token_ref: UUID, reason: str) -> CommandResult:
        """Revoke a token; requests with it fail from now on."""
        return self._change(AccessToken, token_ref, "token", None,
                            lambda t: t.revoke(actor, reason))

    def authenticate(self, secret: str) -> Actor | None:
        """The actor a bearer secret stands for, or None (unknown or revoked)."""
        try:
            token = self.repository.get(token_id(token_hash(secret)),
                                        deepcopy_from_cache=False)
        except AggregateNotFoundError:
            return None
        if not isinstance(token, AccessToken) or token.revoked:
            return None
        return token.actor()

    # -- frameworks ---------------------------------------------------------------------------

    def define_framework(self, actor: Actor, document: dict[str, Any],
                         supersedes: UUID | None = None) -> CommandResult:
        """Draft a framework; with `supersedes`, as the next version of that framework."""
        version = 1
        if supersedes is not None:
            previous = self.framework(supersedes)
            version = previous.framework_version + 1
            if document.get("code") != previous.code:
                raise InvalidInput(f"a new version keeps the code {previous.code}", field="code")
        framework = Framework.draft(actor, document, version=version, supersedes=supersedes)
        return self._create(framework, f"framework {framework.code} v{version}")

    def revise_framework(self, actor: Actor, framework_id: UUID, document: dict[str, Any],
                         reason: str, expected_version: int | None = None) -> CommandResult:
        """Replace a draft framework's document."""
        return self._change(Framework, framework_id, "framework", expected_version,
                            lambda f: f.revise(actor, document, reason))

    def publish_framework(self, actor: Actor, framework_id: UUID,
            expected_version: int | None = None) -> CommandResult:
        """Publish a draft framework; from now on it is immutable."""
        return self._change(Framework, framework_id, "framework", expected_version,
                            lambda f: f.publish(actor))

    def framework(self, framework_id: UUID) -> Framework:
        return self._get(Framework, framework_id, "framework")

    def framework_tree(self, framework_id: UUID) -> FrameworkTree:
        """The parsed tree; published frameworks never change, so their trees are cached."""
        tree = self._trees.get(framework_id)
        if tree is None:
            framework = self._get(Framework, framework_id, "framework", read_only=True)
            tree = framework.tree()
            if framework.is_published:
                self._trees[framework_id] = tree
        return tree

    # -- cycles -------------------------------------------------------------------------------

    def open_cycle(self, actor: Actor, *, province: str, year: int, title: str,
                   groups: list[dict[str, Any]], schedule: Mapping[str, datetime],
                   ranking_rule: RankingRule = RankingRule.COMPETITION) -> CommandResult:
        """Open a province's assessment cycle for one year, with groups and a schedule."""
        checked = []
        for index, group in enumerate(groups):
            if not isinstance(group, dict) or not group.get("code"):
                raise InvalidInput("each group has a code", field=f"groups[{index}].code")
            try:
                framework = self.framework(UUID(str(group.get("framework_id"))))
            except (ValueError, NotFound):
                raise NotFound(f"group {group['code']}: framework {group.get('framework_id')} "
                               "does not exist", field=f"groups[{index}].framework_id") from None
            if not framework.is_published:
                raise InvalidInput(f"group {group['code']}: framework {framework.code} is a "
                                   "draft; publish it first",
                                   field=f"groups[{index}].framework_id")
            tree = self.framework_tree(framework.id)
            if tree.year != year or tree.unit_group != group["code"]:
                raise InvalidInput(f"group {group['code']}: framework {framework.code} is for "
                                   f"group {tree.unit_group}, year {tree.year}",
                                   field=f"groups[{index}].framework_id")
            checked.append({**group, "framework_id": framework.id})
        cycle = AssessmentCycle.open(actor, province=province, year=year, title=title,
                                     groups=checked, schedule=dict(schedule),
                                     ranking_rule=ranking_rule)
        return self._create(cycle, f"the {year} cycle of {province}")

    def cycle(self, cycle_ref: UUID) -> AssessmentCycle:
        return self._get(AssessmentCycle, cycle_ref, "cycle")

    def find_cycle(self, province: str, year: int) -> AssessmentCycle | None:
        try:
            return self.cycle(cycle_id(province, year))
        except NotFound:
            return None

    def enrol_units(self, actor: Actor, cycle_ref: UUID,
                    units: list[dict[str, Any]],
            expected_version: int | None = None) -> CommandResult:
        """Enrol units (code, name, group, ranked) and open their scorecards, atomically."""
        if not units:
            raise InvalidInput("send at least one unit", field="units")

        def enrol(cycle: AssessmentCycle) -> list[ParAggregate]:
            cards: list[ParAggregate] = []
            for index, unit in enumerate(units):
                try:
                    card_id = cycle.enrol(actor, unit_code=unit.get("code"),
                                          unit_name=unit.get("name"),
                                          group_code=unit.get("group"),
                                          ranked=unit.get("ranked", True))
                except InvalidInput as error:
                    error.field = f"units[{index}].{error.field or 'code'}"
                    raise
                info = cycle.units[unit["code"]]
                cards.append(Scorecard(cycle_id=cycle.id, unit_code=unit["code"],
                                       unit_name=info["name"], group_code=info["group"],
                                       framework_id=cycle.framework_of(info["group"]),
                                       ranked=info["ranked"], actor_id=actor.id,
                                       actor_role=actor.role))
                assert cards[-1].id == card_id
            return cards

        return self._change(AssessmentCycle, cycle_ref, "cycle", expected_version, enrol)

    def assign_appraiser(self, actor: Actor, cycle_ref: UUID, appraiser_id: str,
                         unit_codes: list[str],
            expected_version: int | None = None) -> CommandResult:
        """Assign an appraiser to units of the cycle."""
        return self._change(AssessmentCycle, cycle_ref, "cycle", expected_version,
                            lambda c: c.assign_appraiser(actor, appraiser_id, unit_codes))

    def extend_deadline(self, actor: Actor, cycle_ref: UUID, unit_code: str, phase: Phase,
                        until: datetime, reason: str,
            expected_version: int | None = None) -> CommandResult:
        """Give one unit more time; a sheet locked at the deadline reopens."""

        def extend(cycle: AssessmentCycle) -> list[ParAggregate]:
            cycle.extend_deadline(actor, unit_code, phase, until, reason, self.clock())
            card = self.scorecard(cycle.unit(unit_code)["scorecard_id"])
            card.reopen_for_extension(actor, phase, until, reason.strip())
            return [card]

        return self._change(AssessmentCycle, cycle_ref, "cycle", expected_version, extend)

    def lock_overdue_scorecards(self, actor: Actor, cycle_ref: UUID) -> list[str]:
        """Lock, as they stand, the draft scorecards whose self-assessment deadline passed."""
        actor.require(Role.SECRETARIAT, Role.SYSTEM, act="locking overdue scorecards")

        def attempt() -> list[str]:
            cycle = self.cycle(cycle_ref)
            now = self.clock()
            locked = [card for card in self.scorecards(cycle)
                      if card.lock_at_deadline(actor, cycle.context_for(card.unit_code, now))]
            if locked:
                self._save(*locked)
            return [card.unit_code for card in locked]

        return self._retrying(attempt, "the cycle's scorecards")

    def advance_phase(self, actor: Actor, cycle_ref: UUID, to_phase: Phase,
            expected_version: int | None = None) -> CommandResult:
        """Move the cycle to its next phase once every scorecard is ready for it."""

        def advance(cycle: AssessmentCycle) -> list[ParAggregate]:
            cycle.advance(actor, to_phase, self.clock(), self._blockers(cycle))
            return []

        return self._change(AssessmentCycle, cycle_ref, "cycle", expected_version, advance)

    def _blockers(self, cycle: AssessmentCycle) -> list[str]:
        blockers: list[str] = []
        if cycle.phase is Phase.SELF_ASSESSMENT:
            blockers = [f"{card.unit_code} has not submitted (lock overdue sheets first)"
                        for card in self.scorecards(cycle, read_only=True)
                        if card.status.value == "draft"]
        elif cycle.phase in (Phase.APPRAISAL_1, Phase.APPRAISAL_2):
            round_ = 1 if cycle.phase is Phase.APPRAISAL_1 else 2
            for card in self.scorecards(cycle, read_only=True):
                waiting = card.unappraised(self.framework_tree(card.framework_id), round_)
                if waiting:
                    blockers.append(f"{card.unit_code} awaits round {round_} on "
                                    f"{', '.join(waiting[:10])}"
                                    + (f" (+{len(waiting) - 10})" if len(waiting) > 10 else ""))
        return blockers

    def approve_results(self, actor: Actor, cycle_ref: UUID, decision_ref: str,
                        note: str = "",
            expected_version: int | None = None) -> CommandResult:
        """Record the council's approval of the cycle's results."""
        return self._change(AssessmentCycle, cycle_ref, "cycle", expected_version,
                            lambda c: c.approve(actor, decision_ref, note))

    def publish_results(self, actor: Actor, cycle_ref: UUID, decision_ref: str,
                        decision_date: date,
            expected_version: int | None = None) -> CommandResult:
        """Publish the approved results under the PPC decision; afterwards only corrections."""
        return self._change(AssessmentCycle, cycle_ref, "cycle", expected_version,
                            lambda c: c.publish(actor, decision_ref, decision_date))

    # -- scorecards ---------------------------------------------------------------------------

    def scorecard(self, scorecard_ref: UUID) -> Scorecard:
        return self._get(Scorecard, scorecard_ref, "scorecard")

    def scorecards(self, cycle: AssessmentCycle, *, read_only: bool = False) -> list[Scorecard]:
        return [self._get(Scorecard, unit["scorecard_id"], "scorecard", read_only=read_only)
                for unit in cycle.units.values()]

    def score_sheet(self, scorecard_ref: UUID) -> tuple[Scorecard, FrameworkTree, ScoreSheet]:
        card = self.scorecard(scorecard_ref)
        tree = self.framework_tree(card.framework_id)
        return card, tree, card.sheet(tree)

    def _on_card(self, scorecard_ref: UUID, expected_version: int | None,
                 act: Callable[[Scorecard, UnitContext, FrameworkTree], None]) -> CommandResult:
        def change(card: Scorecard) -> list[ParAggregate]:
            cycle = self._get(AssessmentCycle, card.cycle_id, "cycle", read_only=True)
            act(card, cycle.context_for(card.unit_code, self.clock()),
                self.framework_tree(card.framework_id))
            return []

        return self._change(Scorecard, scorecard_ref, "scorecard", expected_version, change)

    def record_self_scores(self, actor: Actor, scorecard_ref: UUID,
                           entries: list[SelfScoreEntry],
                           expected_version: int | None = None) -> CommandResult:
        """Save declared values, self-scores, "not applicable" and notes for some items."""
        return self._on_card(scorecard_ref, expected_version,
                             lambda c, ctx, t: c.record_self_scores(actor, ctx, t, entries))

    def attach_evidence(self, actor: Actor, scorecard_ref: UUID, item_code: str,
                        blob: StoredBlob, file_name: str, media_type: str,
            expected_version: int | None = None) -> CommandResult:
        """Link a file already in the blob store to an item."""
        return self._on_card(scorecard_ref, expected_version, lambda c, ctx, t: c.attach_evidence(
            actor, ctx, t, item_code, blob.sha256, file_name, media_type, blob.size))

    def withdraw_evidence(self, actor: Actor, scorecard_ref: UUID, item_code: str, sha256: str,
                          reason: str,
            expected_version: int | None = None) -> CommandResult:
        """Unlink a file from an item (the bytes stay in the blob store)."""
        return self._on_card(scorecard_ref, expected_version, lambda c, ctx, t: c.withdraw_evidence(
            actor, ctx, item_code, sha256, reason))

    def submit_self_assessment(self, actor: Actor, scorecard_ref: UUID,
                               expected_version: int | None = None) -> CommandResult:
        """The unit head submits the self-assessment; the unit can no longer change it."""
        return self._on_card(scorecard_ref, expected_version,
                             lambda c, ctx, t: c.submit(actor, ctx, t))

    def appraise(self, actor: Actor, scorecard_ref: UUID, round_: int,
                 entries: list[AppraisalEntry],
                 expected_version: int | None = None) -> CommandResult:
        """Accept or adjust items in appraisal round 1 or 2."""
        return self._on_card(scorecard_ref, expected_version,
                             lambda c, ctx, t: c.appraise(actor, ctx, t, round_, entries))

    def accept_remaining(self, actor: Actor, scorecard_ref: UUID, round_: int,
            expected_version: int | None = None) -> CommandResult:
        """Accept, in one act, every item still waiting for a decision in this round."""

        def accept(card: Scorecard, context: UnitContext, tree: FrameworkTree) -> None:
            waiting = card.unappraised(tree, round_)
            if waiting:
                card.appraise(actor, context, tree, round_,
                              [AppraisalEntry(code, Decision.ACCEPTED) for code in waiting])

        return self._on_card(scorecard_ref, expected_version, accept)

    def explain(self, actor: Actor, scorecard_ref: UUID, item_code: str,
                text: str,
            expected_version: int | None = None) -> CommandResult:
        """The unit explains an item appraised below its self-score or flagged."""
        return self._on_card(scorecard_ref, expected_version,
                             lambda c, ctx, t: c.explain(actor, ctx, t, item_code, text))

    def award_bonus(self, actor: Actor, scorecard_ref: UUID, entry_id: str, points: Any,
                    reason: str,
            expected_version: int | None = None) -> CommandResult:
        """Add bonus points (outside the base, capped by the framework)."""
        return self._on_card(scorecard_ref, expected_version, lambda c, ctx, t: c.award_bonus(
            actor, ctx, entry_id, points, reason))

    def impose_penalty(self, actor: Actor, scorecard_ref: UUID, entry_id: str, points: Any,
                       reason: str,
            expected_version: int | None = None) -> CommandResult:
        """Deduct penalty points (outside the base, capped by the framework)."""
        return self._on_card(scorecard_ref, expected_version, lambda c, ctx, t: c.impose_penalty(
            actor, ctx, entry_id, points, reason))

    def withdraw_bonus_or_penalty(self, actor: Actor, scorecard_ref: UUID, entry_id: str,
                                  reason: str,
            expected_version: int | None = None) -> CommandResult:
        """Withdraw a bonus or penalty entry."""
        return self._on_card(scorecard_ref, expected_version,
                             lambda c, ctx, t: c.withdraw_bonus_or_penalty(actor, ctx, entry_id,
                                                                           reason))

    def apply_survey_points(self, actor: Actor, cycle_ref: UUID, survey_import_id: UUID,
                            results: list[dict[str, Any]]) -> int | None:
        """Apply an import's points to every scorecard it covers, all or nothing.

        `results` rows: {"unit_code", "item_code", "points", "detail"}."""
        if not results:
            raise InvalidInput("the import has no results", field="results")

        def attempt() -> int | None:
            return self._save(*self._surveyed_cards(actor, cycle_ref, survey_import_id,
                                                    results))

        return self._retrying(attempt, "the surveyed scorecards")

    def apply_survey_import(self, actor: Actor, cycle_ref: UUID, survey_import_id: UUID,
                            results: list[dict[str, Any]],
                            records: Iterable[ParAggregate]) -> int | None:
        """One attempt at `apply_survey_points` (`results` may be empty) that saves, in the same
        transaction, the aggregates recording the import (`records`, e.g. domain/survey's
        SurveyImport). A concurrent write raises IntegrityError: reload, rebuild, retry."""
        return self._save(*records, *self._surveyed_cards(actor, cycle_ref, survey_import_id,
                                                          results))

    def _surveyed_cards(self, actor: Actor, cycle_ref: UUID, survey_import_id: UUID,
                        results: list[dict[str, Any]]) -> list[Scorecard]:
        """Scorecards with an import's points applied (not saved); a bad row names itself."""
        cycle = self._get(AssessmentCycle, cycle_ref, "cycle", read_only=True)
        now = self.clock()
        cards: dict[str, Scorecard] = {}
        for index, row in enumerate(results):
            unit_code = row.get("unit_code")
            try:
                unit = cycle.unit(unit_code)
                card = cards.get(unit_code) or self.scorecard(unit["scorecard_id"])
                card.apply_survey_points(actor, cycle.context_for(unit_code, now),
                                         self.framework_tree(card.framework_id),
                                         row.get("item_code"), row.get("points"),
                                         survey_import_id, row.get("detail") or {})
            except (InvalidInput, NotFound) as error:
                error.field = f"results[{index}].{error.field or 'unit_code'}"
                raise
            cards[unit_code] = card
        return list(cards.values())

    def correct_points(self, actor: Actor, scorecard_ref: UUID, item_code: str, points: Any,
                       reason: str, decision_ref: str,
            expected_version: int | None = None) -> CommandResult:
        """Correct a published item's points under a decision (e.g. QĐ 141/QĐ-UBND)."""
        return self._on_card(scorecard_ref, expected_version, lambda c, ctx, t: c.correct(
            actor, ctx, t, item_code, points, reason, decision_ref))
