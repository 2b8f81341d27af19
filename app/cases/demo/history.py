"""One demo case at a time, as the workflow leaves it in each state: its dates on the working-day
calendar, its checklist, review tasks, pauses, decision, evaluation and hand-over."""

from __future__ import annotations

import datetime as dt
import random
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from app.calendar.clock import WorkingCalendar
from app.cases.demo.people import People
from app.cases.demo.places import Offer, Place
from app.cases.states import RESULT_DENIED, RESULT_GRANTED, RESULT_ISSUED, RESULT_RETURNED, CaseState

HISTORY_DAYS = 548  # about 18 months back from today
S = CaseState
# Per mille. Most history is finished; open cases are recent (see the _<state> methods of Maker).
STATE_WEIGHTS = {
    S.ISSUED: 860, S.ACCEPTED: 45, S.READY: 15, S.SUSPENDED: 8, S.CORRECTION: 12, S.REFUSED: 25,
    S.WITHDRAWN: 20, S.SUBMITTED: 10, S.PRE_ACCEPTED: 5,
}
SATISFACTION_WEIGHTS = {5: 800, 4: 120, 3: 50, 2: 20, 1: 10}
PROCEDURES = (("inspection", "现场核查"), ("testing", "检验检测"), ("expert", "专家评审"), ("hearing", "听证"),
              ("appraisal", "鉴定"))
APPROVALS = ("同意。", "材料齐全，符合法定条件，同意。", "经审查，符合规定，同意办理。", "审核通过。")
DENIALS = ("经审查，不符合申请条件，不予许可。", "现场核查不符合要求，不予许可。")
REFUSALS = ("申请事项不属于本机关职权范围，请向有关行政机关申请。", "申请人不具备申请资格。",
            "申请材料不齐全且当场不能补齐。", "该事项依法不需要取得行政许可。")
ORGANISATION_CATEGORIES = frozenset({"enterprise", "construction", "transport", "environment", "culture_media"})


OFFICE_SECONDS = 8 * 3600 + 1800  # 08:30–17:00


@dataclass(frozen=True, slots=True)
class Plan:
    """What is settled before a case is made, enough to order every case by when it came in."""

    place: Place
    state: CaseState
    offer: Offer
    day: dt.date  # the day it came in (the day of its number): applied online, or accepted at the window
    second: int  # when that day: seconds after 08:30 China time
    in_review: bool = False  # correction, withdrawal: after acceptance (else before it)


@dataclass
class Draft:
    plan: Plan
    case: dict[str, Any]
    materials: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    pauses: list[dict[str, Any]] = field(default_factory=list)


BLANK_CASE: dict[str, Any] = {
    "version": 1, "agent_name": "", "agent_id_number": "", "window_number": "", "accepted_at": None,
    "accepted_on": None, "accepted_by": "", "paused_days": 0, "due_date": None, "statutory_due_date": None,
    "calendar_missing": "", "refusal_reason": "", "decided_at": None, "result_code": "", "satisfaction": None,
    "evaluation_refused": False, "issued_at": None, "issued_by": "", "delivery": "", "collected_by": "",
    "tracking_number": "",
}
DueDates = tuple[dt.date | None, dt.date | None, str]


class Maker:
    """Plans cases, then makes each one. Days are working days of the real calendar up to today;
    times are office hours in China (UTC+8 all year, no daylight saving: 08:30 there is 00:30 UTC)."""

    def __init__(self, rng: random.Random, calendar: WorkingCalendar, today: dt.date, regions: list[str]) -> None:
        self.rng, self.calendar, self.today = rng, calendar, today
        # Nothing happens after now (or, for a past `today`, after its office hours).
        self.latest = min(dt.datetime.now(dt.UTC), dt.datetime(today.year, today.month, today.day, 9, tzinfo=dt.UTC))
        span = (today - dt.timedelta(days=n) for n in range(HISTORY_DAYS, -1, -1))
        self.days = [day for day in span if calendar.is_working_day(day)]
        self.index = {day: i for i, day in enumerate(self.days)}
        self.people = People(rng, today, regions)
        self.states = list(STATE_WEIGHTS)
        self.state_weights = list(accumulate(STATE_WEIGHTS.values()))
        self.due_cache: dict[tuple[Any, ...], DueDates] = {}
        self.by_state: dict[CaseState, Callable[[Draft], None]] = {
            S.ISSUED: self._issued, S.ACCEPTED: self._accepted, S.READY: self._ready, S.SUSPENDED: self._suspended,
            S.CORRECTION: self._correction, S.REFUSED: self._refused, S.WITHDRAWN: self._withdrawn,
            S.SUBMITTED: self._submitted, S.PRE_ACCEPTED: self._submitted,
        }

    def plan(self, place: Place) -> Plan:
        """The state, item and arrival of a case at `place`. Finished cases came in any time in the
        18 months; open ones recently, within about their promised time."""
        state = self.states[bisect_right(self.state_weights, self.rng.random() * self.state_weights[-1])]
        offers = place.reviewed if state in (S.ACCEPTED, S.SUSPENDED, S.READY) else place.offers
        if state is S.CORRECTION:  # something to be missing at the window, or a review to interrupt
            offers = [o for o in offers if o.required or o.promised_days]
        if not offers:  # a place offering only 即办件 has nothing under review
            state, offers = S.ISSUED, place.offers
        offer = self.rng.choice(offers)
        promised = offer.promised_days
        in_review = False
        if state is S.CORRECTION:
            in_review = bool(promised) and (not offer.required or self.rng.random() < 0.4)
        elif state is S.WITHDRAWN:
            in_review = self.rng.random() < 0.5
        back = {S.ACCEPTED: promised + max(2, promised // 5), S.SUSPENDED: promised + 20, S.READY: promised + 5,
                S.CORRECTION: promised + 5 if in_review else 10, S.SUBMITTED: 3, S.PRE_ACCEPTED: 3}.get(state)
        day = self.days[self.rng.randrange(len(self.days))] if back is None else self.recent(back)
        return Plan(place, state, offer, day, self.rng.randrange(OFFICE_SECONDS), in_review)

    def case(self, plan: Plan) -> Draft:
        draft = self.applied(plan)
        self.by_state[plan.state](draft)
        draft.case["state"] = plan.state.value
        return draft

    # --- days and times ---

    def recent(self, back: int) -> dt.date:
        """One of the last `back` + 1 working days up to today."""
        return self.days[max(0, len(self.days) - 1 - self.rng.randint(0, back))]

    def later(self, day: dt.date, n: int) -> dt.date:
        """`n` working days after `day`, but not after the last working day up to today."""
        return self.days[min(self.index[day] + n, len(self.days) - 1)]

    def at(self, day: dt.date, after: dt.datetime | None = None, second: int | None = None) -> dt.datetime:
        """A moment of `day`'s office hours (at `second` past 08:30, or any), after `after`, not after now."""
        moment = dt.datetime(day.year, day.month, day.day, 0, 30, tzinfo=dt.UTC)
        moment += dt.timedelta(seconds=self.rng.randrange(OFFICE_SECONDS) if second is None else second)
        if after is not None and moment <= after:
            moment = after + dt.timedelta(seconds=self.rng.randrange(300, 5400))
        moment = min(moment, self.latest)
        return moment if after is None else max(moment, after)

    def deadlines(self, accepted_on: dt.date, offer: Offer, paused: int) -> DueDates:
        """What app.cases.deadlines.schedule sets: (due date, statutory due date, missing years)."""
        key = (accepted_on, offer.promised_days, offer.promised_unit, offer.statutory_days, offer.statutory_unit,
               paused)
        if key not in self.due_cache:
            promised = self.calendar.due_date(accepted_on, offer.promised_days, offer.promised_unit, paused)
            statutory = self.calendar.due_date(accepted_on, offer.statutory_days, offer.statutory_unit, paused)
            missing = promised.missing_years
            self.due_cache[key] = (None if missing else promised.day,
                                   None if missing or statutory.calendar_missing else statutory.day,
                                   ",".join(map(str, missing)))
        return self.due_cache[key]

    # --- steps of the workflow ---

    def applied(self, plan: Plan) -> Draft:
        """Who applies for what, where and when."""
        place, offer = plan.place, plan.offer
        online = plan.state in (S.SUBMITTED, S.PRE_ACCEPTED) or self.rng.random() < 0.2
        as_organisation = self.rng.random() < (0.7 if offer.category in ORGANISATION_CATEGORIES else 0.04)
        case = BLANK_CASE | self.people.applicant(place.code[:6], place.org_prefix, as_organisation)
        case |= {
            "tenant_code": place.code, "channel": "online" if online else "window",
            "window_number": "" if online else self.rng.choice(place.windows),
            "tenant_item_id": offer.tenant_item_id, "item_id": offer.item_id,
            "implementation_code": offer.implementation_code, "item_name": offer.name,
            "promised_days": offer.promised_days, "promised_unit": offer.promised_unit,
            "statutory_days": offer.statutory_days, "statutory_unit": offer.statutory_unit,
        }
        case["created_at"] = case["updated_at"] = self.at(plan.day, second=plan.second)
        return Draft(plan, case)

    def received(self, draft: Draft, missing: int = 0) -> None:
        """The checklist as received; `missing` required materials absent."""
        offer, day = draft.plan.offer, draft.plan.day
        online = draft.case["channel"] == "online"
        absent = {p for p, _n, _need in self.rng.sample(offer.required, missing)} if missing else set()
        for position, name, necessity in offer.materials:
            status, due_on = ("electronic" if online or self.rng.random() < 0.45 else "paper"), None
            if position in absent or (necessity == "optional" and self.rng.random() < 0.4):
                status = "missing"
            elif necessity == "deferrable" and not online and self.rng.random() < 0.15:  # 容缺: brought later
                status, due_on = "deferred", day + dt.timedelta(days=self.rng.randint(5, 14))
            draft.materials.append({"tenant_code": draft.case["tenant_code"], "position": position, "name": name,
                                    "necessity": necessity, "status": status, "due_on": due_on})

    def accepted(self, draft: Draft, pauses: int = 0) -> None:
        """受理 on arrival: the clock starts, every department gets a pending task; then `pauses`
        closed pauses (special procedures or correction) that moved the due date."""
        self.received(draft)
        case, day, place = draft.case, draft.plan.day, draft.plan.place
        # At the window the clerk registers and accepts at once; an online application waits a while.
        accepted_at = case["created_at"] if case["channel"] == "window" else self.at(day, case["created_at"])
        case["accepted_at"], case["accepted_on"], case["accepted_by"] = accepted_at, day, place.clerk
        start = day
        for _ in range(pauses):
            start = self.later(start, self.rng.randint(1, 4))
            end = self.later(start, self.rng.randint(1, 8))
            if end > start:
                self.pause(draft, start, end, "special" if self.rng.random() < 0.6 else "correction")
                start = end
        case["paused_days"] = sum(p["working_days"] for p in draft.pauses)
        case["due_date"], case["statutory_due_date"], case["calendar_missing"] = \
            self.deadlines(day, draft.plan.offer, case["paused_days"])
        draft.tasks = [{"tenant_code": case["tenant_code"], "department_code": d, "state": "pending", "opinion": "",
                        "reviewer": "", "decided_at": None, "created_at": case["accepted_at"]}
                       for d in draft.plan.offer.departments]

    def pause(self, draft: Draft, start: dt.date, end: dt.date | None, kind: str) -> None:
        procedure, label = self.rng.choice(PROCEDURES) if kind == "special" else ("", "")
        missing = [name for _p, name, _need in draft.plan.offer.required[:1]] or ["申请材料"]
        draft.pauses.append({
            "tenant_code": draft.case["tenant_code"], "kind": kind, "procedure": procedure,
            "reason": f"需{label}" if kind == "special" else "；".join(missing), "started_on": start,
            "ended_on": end, "working_days": self.calendar.working_days_between(start, end) if end else 0,
            "result": f"{label}已完成" if end and kind == "special" else "",
        })
        draft.case["updated_at"] = self.at(end or start, draft.case["accepted_at"])

    def decision_day(self, draft: Draft) -> dt.date:
        """On time mostly (within the promised span and after any pause); 4% late."""
        case = draft.case
        if case["promised_days"] == 0:
            return draft.plan.day
        span = case["promised_days"] + case["paused_days"]
        late = self.rng.random() < 0.04
        day = self.later(draft.plan.day, self.rng.randint(span + 1, span + 5) if late else self.rng.randint(1, span))
        return max([day, *(p["ended_on"] for p in draft.pauses)])

    def decided(self, draft: Draft, granted: bool) -> None:
        """Every department has given its opinion; the last one decided the case. A 即办件 is
        decided at the window by the clerk, on the spot."""
        case, place, day = draft.case, draft.plan.place, self.decision_day(draft)
        immediate = case["promised_days"] == 0
        refusing = -1 if granted else self.rng.randrange(len(draft.tasks))
        for n, task in enumerate(draft.tasks):
            task["state"] = "refused" if n == refusing else "approved"
            if immediate:
                task.update(opinion="即办", reviewer=place.clerk, decided_at=self.at(day, case["accepted_at"]))
            else:
                task.update(opinion=self.rng.choice(DENIALS if n == refusing else APPROVALS),
                            reviewer=place.reviewer(task["department_code"]),
                            decided_at=self.at(day, case["accepted_at"]))
        case["decided_at"] = case["updated_at"] = max(t["decided_at"] for t in draft.tasks)
        case["result_code"] = RESULT_GRANTED if granted else RESULT_DENIED

    def evaluate(self, case: dict[str, Any]) -> None:
        """好差评: a level, or declined (then `evaluation_refused`)."""
        if self.rng.random() < 0.06:
            case["evaluation_refused"] = True
        else:
            case["satisfaction"] = self.rng.choices(list(SATISFACTION_WEIGHTS), list(SATISFACTION_WEIGHTS.values()))[0]

    # --- one method per state: what the workflow leaves behind in it ---

    def _issued(self, draft: Draft) -> None:
        self.accepted(draft, pauses=1 if self.rng.random() < 0.07 else 0)
        case = draft.case
        self.decided(draft, granted=self.rng.random() > 0.03)
        self.evaluate(case)
        issued_on = self.later(case["decided_at"].date(), self.rng.choice((0, 0, 1, 1, 2, 3, 5)))
        case["issued_at"] = case["updated_at"] = self.at(issued_on, case["decided_at"])
        case["issued_by"] = draft.plan.place.issuer
        if self.rng.random() < 0.15:
            case["delivery"], case["tracking_number"] = "mail", f"1{self.rng.randrange(10 ** 12):012d}"
        else:
            case["delivery"], case["collected_by"] = "collect", case["agent_name"] or case["contact_name"]
        if case["result_code"] == RESULT_GRANTED:
            case["result_code"] = RESULT_ISSUED

    def _accepted(self, draft: Draft) -> None:
        self.accepted(draft, pauses=1 if self.rng.random() < 0.1 else 0)
        waiting = self.rng.randrange(len(draft.tasks))
        for n, task in enumerate(draft.tasks):  # some departments may be done; one at least is not
            if n != waiting and self.rng.random() < 0.5:
                task.update(state="approved", opinion=self.rng.choice(APPROVALS), decided_at=self.at(
                    self.later(draft.plan.day, 1), draft.case["accepted_at"]),
                    reviewer=draft.plan.place.reviewer(task["department_code"]))

    def _suspended(self, draft: Draft) -> None:
        self.accepted(draft)
        self.pause(draft, self.later(draft.plan.day, self.rng.randint(1, draft.plan.offer.promised_days)), None,
                   "special")

    def _correction(self, draft: Draft) -> None:
        if draft.plan.in_review:  # 补正 during review: the clock stops
            self.accepted(draft)
            self.pause(draft, self.later(draft.plan.day, 1), None, "correction")
        else:  # 补正告知 at the window: not accepted; the notice lists what is missing
            self.received(draft, missing=min(len(draft.plan.offer.required), self.rng.randint(1, 2)))

    def _ready(self, draft: Draft) -> None:
        self.accepted(draft)
        self.decided(draft, granted=self.rng.random() > 0.05)
        if self.rng.random() < 0.3:
            self.evaluate(draft.case)

    def _refused(self, draft: Draft) -> None:
        self.received(draft)
        draft.case["refusal_reason"] = self.rng.choice(REFUSALS)

    def _withdrawn(self, draft: Draft) -> None:
        if draft.plan.in_review:
            self.accepted(draft)
            for task in draft.tasks:
                task["state"] = "withdrawn"
        else:
            self.received(draft)
        draft.case["result_code"] = RESULT_RETURNED
        withdrawn_on = self.later(draft.plan.day, self.rng.randint(0, 3))
        draft.case["updated_at"] = self.at(withdrawn_on, draft.case["created_at"])

    def _submitted(self, draft: Draft) -> None:
        """Applied online (申办), perhaps checked (预受理): no clock yet."""
        self.received(draft)
