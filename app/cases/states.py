"""Case states (DOMAIN §4) with their display titles, and which verb may leave which state."""

from __future__ import annotations

from enum import StrEnum


class CaseState(StrEnum):
    SUBMITTED = "submitted"        # 申办: applied online, waiting for a clerk
    PRE_ACCEPTED = "pre_accepted"  # 预受理: a clerk checked the online application
    CORRECTION = "correction"      # 补正告知: waiting for missing materials (one-time notice)
    ACCEPTED = "accepted"          # 受理 → 审查: back-office review in parallel, clock running
    SUSPENDED = "suspended"        # 特别程序: hearing, inspection, expert review… clock paused
    READY = "ready"                # 决定 made: waiting at the issuance window (待出件)
    ISSUED = "issued"              # 送达 / 领取: finished (办结)
    REFUSED = "refused"            # 不予受理
    WITHDRAWN = "withdrawn"        # 撤回 by the applicant

    @property
    def label(self) -> str:
        return TITLES[self]

    @property
    def is_open(self) -> bool:
        return self not in (CaseState.ISSUED, CaseState.REFUSED, CaseState.WITHDRAWN)


TITLES = {
    CaseState.SUBMITTED: "已申办", CaseState.PRE_ACCEPTED: "已预受理", CaseState.CORRECTION: "补正告知",
    CaseState.ACCEPTED: "审查中", CaseState.SUSPENDED: "特别程序", CaseState.READY: "待出件",
    CaseState.ISSUED: "已办结", CaseState.REFUSED: "不予受理", CaseState.WITHDRAWN: "已撤回",
}

# The states each verb may start from. Guards on role and scope are checked separately.
S = CaseState
ALLOWED_FROM: dict[str, frozenset[CaseState]] = {
    "pre_accept": frozenset({S.SUBMITTED}),
    "accept": frozenset({S.SUBMITTED, S.PRE_ACCEPTED}),
    "correct": frozenset({S.CORRECTION}),  # 补正受理: materials supplied; accepts, or resumes the review
    "refuse": frozenset({S.SUBMITTED, S.PRE_ACCEPTED, S.CORRECTION}),
    "request_correction": frozenset({S.SUBMITTED, S.PRE_ACCEPTED, S.ACCEPTED}),
    "review": frozenset({S.ACCEPTED}),
    "suspend": frozenset({S.ACCEPTED}),
    "resume": frozenset({S.SUSPENDED}),
    "evaluate": frozenset({S.READY}),
    "issue": frozenset({S.READY}),
    "withdraw": frozenset({S.SUBMITTED, S.PRE_ACCEPTED, S.CORRECTION, S.ACCEPTED, S.SUSPENDED}),
}

# Finishing results (办结结果, a provincial code table).
RESULT_ISSUED = "0"        # 出证办结
RESULT_RETURNED = "1"      # 退回
RESULT_NO_CORRECTION = "5"  # 补正不来
RESULT_GRANTED = "6"       # 准予许可
RESULT_DENIED = "7"        # 不予许可
RESULT_TITLES = {
    "0": "出证办结", "1": "退回", "2": "作废", "3": "删除", "5": "补正不来", "6": "准予许可", "7": "不予许可",
}
