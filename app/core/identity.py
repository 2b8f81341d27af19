"""Identity numbers (DOMAIN §8): resident ID (居民身份证, GB 11643) and unified social credit code
(统一社会信用代码, GB 32100). python-stdnum computes the check characters; the rules around them
are ours because stdnum's validators are stricter than the law in two places: `cn.ric` rejects
IDs whose region code was abolished (people keep their number when a county is merged), and
`cn.uscc` rejects codes whose first two positions are letters (e.g. `Y`, other organisations).
"""

from __future__ import annotations

import datetime as dt
import re

from stdnum.cn import ric, uscc
from stdnum.exceptions import InvalidComponent

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_PATTERN = re.compile(rf"[{USCC_ALPHABET}]{{2}}[0-9]{{6}}[{USCC_ALPHABET}]{{10}}")


class InvalidIdentity(ValueError):
    """The number is not valid; the message says why, in terms an applicant understands."""


def normalise_person_id(number: str, today: dt.date | None = None) -> str:
    """The 18-character resident ID in canonical form (upper-case X), or InvalidIdentity."""
    number = ric.compact(number)
    if len(number) != 18 or not number[:17].isascii() or not number[:17].isdigit():
        raise InvalidIdentity("a resident ID number has 17 digits and a check character (18 in all)")
    try:
        born = ric.get_birth_date(number)
    except InvalidComponent:
        raise InvalidIdentity(f"the birth date {number[6:14]} in the ID number is not a real date") from None
    if born > (today or dt.date.today()) or born.year < 1850:
        raise InvalidIdentity(f"the birth date {born.isoformat()} in the ID number is impossible")
    if number[-1] != ric.calc_check_digit(number):
        raise InvalidIdentity("the check character of the ID number does not match: please check every digit")
    return number


def normalise_credit_code(code: str) -> str:
    """The 18-character unified social credit code in canonical form, or InvalidIdentity."""
    code = uscc.compact(code)
    if not USCC_PATTERN.fullmatch(code):
        raise InvalidIdentity("a unified social credit code has 18 characters from 0-9 and A-Y "
                              "(without I, O, S, V, Z), digits in positions 3–8")
    if code[-1] != uscc.calc_check_digit(code):
        raise InvalidIdentity("the check character of the credit code does not match: please check every character")
    return code


def mask(number: str) -> str:
    """For screens and logs: 370102********123X — region and last four only."""
    if len(number) <= 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]
