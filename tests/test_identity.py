"""Identity numbers: resident IDs and credit codes per DOMAIN §8."""

from __future__ import annotations

import datetime as dt

import pytest

from app.core.identity import InvalidIdentity, mask, normalise_credit_code, normalise_person_id

TODAY = dt.date(2026, 11, 27)


def test_a_valid_id_passes_and_lower_case_x_is_accepted():
    """Is a real-shaped ID accepted, with a lower-case check x normalised to X?"""
    assert normalise_person_id("11010519491231002X", TODAY) == "11010519491231002X"
    assert normalise_person_id("11010519491231002x", TODAY) == "11010519491231002X"


def test_an_abolished_region_is_not_a_reason_to_refuse():
    """Is an ID from an abolished county (region 370181, old Zhangqiu city) accepted on its check digit?"""
    base = "37018119800101123"
    from stdnum.cn import ric

    number = base + ric.calc_check_digit(base + "?")  # stdnum expects a placeholder check character
    assert normalise_person_id(number, TODAY) == number


@pytest.mark.parametrize(("number", "message"), [
    ("110105194912310021", "check character"),
    ("11010519491331002X", "not a real date"),
    ("11010520991231002X", "impossible"),
    ("1101051949123100", "18 in all"),
])
def test_bad_ids_are_refused_with_the_reason(number, message):
    """Is each kind of bad ID refused with a reason the clerk can read out?"""
    with pytest.raises(InvalidIdentity, match=message):
        normalise_person_id(number, TODAY)


def test_full_width_digits_from_an_input_method_are_normalised():
    """Does an ID typed with full-width digits (a Chinese IME) become the ASCII number?"""
    assert normalise_person_id("11010519491231００2X", TODAY) == "11010519491231002X"


def test_credit_codes_with_letters_in_front_are_valid():
    """Does a credit code starting with Y (other organisations) pass when its check character is right?"""
    from stdnum.cn import uscc

    assert normalise_credit_code("91110000600037341L") == "91110000600037341L"
    body = "Y1370102MA3C4D5E6"
    assert normalise_credit_code(body + uscc.calc_check_digit(body)) == body + uscc.calc_check_digit(body)


@pytest.mark.parametrize(("code", "message"), [
    ("91110000600037341M", "check character"),
    ("91110000600037341", "18 characters"),
    ("9111000060003734IL", "18 characters"),
])
def test_bad_credit_codes_are_refused(code, message):
    """Are wrong check characters, lengths and letters outside the alphabet refused?"""
    with pytest.raises(InvalidIdentity, match=message):
        normalise_credit_code(code)


def test_masking_keeps_region_and_last_four():
    """Do screens show 370102********123X rather than the whole number?"""
    assert mask("37010219900101123X") == "370102********123X"
    assert mask("short") == "*****"
