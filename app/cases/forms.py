"""Forms of the case pages: parsing the clerk's input into service calls, and the words shown next
to a field when the services refuse it.

The services check every rule and name the field they refuse (`UserError.place`) in English; the
form layer checks the *format* of every field at once (so the clerk sees all typos together) and
turns a refusal into a message next to its field in the page's language.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from flask_wtf import FlaskForm
from wtforms import BooleanField, Field, StringField, TextAreaField
from wtforms.validators import Length

from app.cases.queries import WorklistFilter
from app.cases.services import CHECKERS, Applicant, WindowApplication
from app.cases.states import CaseState
from app.catalog.models import Item
from app.core.errors import UserError
from app.core.i18n import translate
from app.core.identity import InvalidIdentity, normalise_person_id
from app.core.labels import PROCEDURES

TEXT = 2000  # opinions, reasons and results: plain text, kept reasonable
PROCEDURE_CODES = tuple(PROCEDURES)


class AcceptanceForm(FlaskForm):
    """一窗受理. The material checklist depends on the item, so its inputs (`material_<position>`,
    `deferred_<position>`) are read by `window_application` rather than declared here."""

    item = StringField()
    applicant_kind = StringField(default="person")
    applicant_name = StringField(validators=[Length(max=100)])
    applicant_id_number = StringField(validators=[Length(max=30)])
    contact_name = StringField(validators=[Length(max=60)])
    contact_phone = StringField(validators=[Length(max=30)])
    agent_name = StringField(validators=[Length(max=60)])
    agent_id_number = StringField(validators=[Length(max=30)])
    window_number = StringField(validators=[Length(max=10)])
    decide_now = BooleanField()


class ReasonForm(FlaskForm):
    reason = TextAreaField(validators=[Length(max=TEXT)])


class ReviewForm(FlaskForm):
    opinion = TextAreaField(validators=[Length(max=TEXT)])
    decision = StringField()  # approve | refuse


class SuspendForm(FlaskForm):
    procedure = StringField(validators=[Length(max=20)])
    reason = TextAreaField(validators=[Length(max=TEXT)])


class ResumeForm(FlaskForm):
    result = TextAreaField(validators=[Length(max=TEXT)])


class CorrectionRequestForm(FlaskForm):
    """补正告知: the checklist lines to supply again (`missing`, positions) and other requests, one a line."""

    other = TextAreaField(validators=[Length(max=TEXT)])


class EvaluationForm(FlaskForm):
    level = StringField()  # 1 … 5, or "none" when the applicant declines


class IssueForm(FlaskForm):
    delivery = StringField()
    collected_by = StringField(validators=[Length(max=60)])
    tracking_number = StringField(validators=[Length(max=40)])


def checked(form: FlaskForm) -> None:
    """Lengths only (the services check the rest): the first field too long, as a UserError."""
    form.validate()
    for name, _problems in form.errors.items():
        if name != "csrf_token":
            raise UserError(translate("最多{max}个字符。", max=_max_length(form[name])), place=name)


def _max_length(field: Field) -> int:
    return next((v.max for v in field.validators if isinstance(v, Length)), 0)


# --- the front desk ------------------------------------------------------------------------------

class FieldErrors(Exception):
    """Every format problem of the acceptance form at once: field name → message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


REQUIRED = ("applicant_name", "applicant_id_number", "contact_name", "contact_phone")


def window_application(form: AcceptanceForm, data: Mapping[str, str], item: Item,
                       windows: list[str]) -> WindowApplication:
    """The application as the service takes it (`data`: the posted form, for the checklist), or
    FieldErrors naming every field in bad shape."""
    form.validate()
    errors = {name: translate("最多{max}个字符。", max=_max_length(form[name]))
              for name in form.errors if name != "csrf_token"}
    kind = form.applicant_kind.data or ""
    for name in REQUIRED:
        if not (form[name].data or "").strip():
            errors.setdefault(name, translate("必填。"))
    _check_number(errors, "applicant_id_number", form.applicant_id_number.data or "", CHECKERS.get(kind))
    _check_number(errors, "agent_id_number", form.agent_id_number.data or "", normalise_person_id)
    if windows and form.window_number.data not in windows:
        errors["window_number"] = translate("请选择受理窗口。")
    statuses, deferred = material_statuses(data, item, errors)
    if errors:
        raise FieldErrors(errors)
    applicant = Applicant(kind, form.applicant_name.data or "", form.applicant_id_number.data or "",
                          form.contact_name.data or "", form.contact_phone.data or "",
                          form.agent_name.data or "", form.agent_id_number.data or "")
    return WindowApplication(item.basic_code, applicant, statuses, deferred, form.window_number.data or "",
                             bool(form.decide_now.data))


def _check_number(errors: dict[str, str], name: str, number: str, check: Callable[[str], str] | None) -> None:
    if name in errors or not number.strip() or check is None:
        return
    try:
        check(number)
    except InvalidIdentity as exc:
        errors[name] = describe(UserError(str(exc), place=name))


def material_statuses(data: Mapping[str, str], item: Item,
                      errors: dict[str, str]) -> tuple[dict[int, str], dict[int, dt.date]]:
    """position → status, and position → date for 容缺 materials, from `material_<n>` / `deferred_<n>`."""
    statuses: dict[int, str] = {}
    deferred: dict[int, dt.date] = {}
    for material in item.materials:
        position = material.position
        statuses[position] = data.get(f"material_{position}") or "missing"
        if statuses[position] != "deferred":
            continue
        try:
            deferred[position] = dt.date.fromisoformat(data.get(f"deferred_{position}") or "")
        except ValueError:
            errors[f"material_{position}"] = translate("请填写补交日期。")
    return statuses, deferred


def field_for(place: str) -> str:
    """The form field a service's `UserError.place` names: applicant.id_number → applicant_id_number,
    materials.3 → material_3, basic_code → item."""
    if place.startswith("materials."):
        return "material_" + place.removeprefix("materials.")
    return {"basic_code": "item", "applicant.kind": "applicant_kind"}.get(place, place.replace(".", "_"))


# What the services say (English, stable phrases) → what the page says. First match wins.
MESSAGES: tuple[tuple[str, str], ...] = (
    ("17 digits and a check character", "身份证号码应为17位数字加1位校验码，共18位。"),
    ("birth date", "身份证号码中的出生日期不正确。"),
    ("check character of the ID number", "身份证号码校验位不符，请逐位核对。"),
    ("unified social credit code has 18", "统一社会信用代码应为18位（数字和除I、O、S、V、Z外的大写字母）。"),
    ("check character of the credit code", "统一社会信用代码校验位不符，请逐位核对。"),
    ("is required", "必填。"),
    ("applicant kind", "请选择申请人类型。"),
    ("unknown item", "没有这个事项。"),
    ("not offered at this place", "本地实施清单中没有这个事项。"),
    ("has no material number", "事项没有这项材料。"),
    ("status must be one of", "请选择材料的收取情况。"),
    ("may not be supplied later", "该材料不能容缺后补。"),
    ("needs a date after today", "容缺材料须填写今天以后的补交日期。"),
    ("required materials missing", "必要材料仍未收齐。"),
    ("names no reviewing department", "该事项没有设置审查部门。"),
    ("refusal needs its reason", "请填写不予受理的理由。"),
    ("at least one missing material", "请至少列出一项需要补正的材料。"),
    ("already given its opinion", "本部门已经出具审查意见。"),
    ("review needs an opinion", "请填写审查意见。"),
    ("special procedure needs its kind", "请选择特别程序类型并填写理由。"),
    ("only an immediate item", "只有即办件可以当场办结。"),
    ("evaluated already", "该办件已经评价过（一事一评）。"),
    ("level from 1 to 5", "请选择评价等级。"),
    ("evaluates before collecting", "请先评价后取证。"),
    ("person who collected", "请填写领取人姓名。"),
    ("tracking number", "邮寄送达须填写快递单号。"),
    ("delivery is collect or mail", "请选择送达方式。"),
    ("cannot be", "办件状态已经变化，不能进行这项操作，请刷新后重试。"),
)


def describe(error: UserError) -> str:
    """The refusal in the page's language; a message the table does not know is shown as it is."""
    return next((translate(chinese) for fragment, chinese in MESSAGES if fragment in error.message), error.message)


# --- the worklist --------------------------------------------------------------------------------

STATE_CHOICES = [state.value for state in CaseState]
OPEN = ""      # the default: every open state
ALL = "all"


def worklist_filter(args: Mapping[str, str], today: dt.date, soon_until: dt.date | None) -> WorklistFilter:
    """The worklist's query string as a filter. `soon_until` is the last day counted as due soon
    (None when the calendar cannot tell)."""
    state = args.get("state", OPEN)
    if state not in (OPEN, ALL, *STATE_CHOICES):
        raise UserError(translate("没有这个办件状态。"), place="state")
    states = {OPEN: tuple(s.value for s in CaseState if s.is_open), ALL: ()}.get(state, (state,))
    soon = args.get("soon") == "1" and soon_until is not None
    return WorklistFilter(
        states=states, item_id=_number(args, "item"), department=args.get("department", "")[:10],
        place=args.get("place", ""), due_before=soon_until if soon else None, due_from=today if soon else None,
        overdue_on=today if args.get("overdue") == "1" else None, page=max(_number(args, "page") or 1, 1),
    )


def soon_days(args: Mapping[str, str], default: int) -> int:
    """How many working days ahead counts as due soon (the node's setting unless asked, at most 30)."""
    asked = _number(args, "days")
    return min(max(asked if asked is not None else default, 0), 30)


def _number(args: Mapping[str, str], name: str) -> int | None:
    value = args.get(name, "")
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 9:
        raise UserError(translate("筛选条件有误。"), place=name)
    return int(value)

