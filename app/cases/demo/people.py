"""Plausible applicants for demo cases: names, resident ID numbers (GB 11643) and unified social
credit codes (GB 32100) whose check characters python-stdnum computes, as app.core.identity checks them."""

from __future__ import annotations

import datetime as dt
import random
from bisect import bisect_right
from itertools import accumulate
from typing import Any

from stdnum.cn import ric, uscc

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
            "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴孔汤")
GIVEN = ("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超霞平刚华玉萍鹏辉宇浩然涵欣怡轩远佳晨阳"
         "嘉博文俊凯婷雪琳慧颖峰斌波鑫瑞航海燕红梅丹倩晶亮")
TRADE_NAMES = "鑫源恒泰华鲁齐丰盛德信达宏远金诚瑞祥聚福安康海川明阳新博"
# (name ending, first two characters of the credit code: registry and kind, GB 32100)
ORGANISATION_KINDS = (("商贸有限公司", "91"), ("建筑工程有限公司", "91"), ("餐饮管理有限公司", "91"),
                      ("科技有限公司", "91"), ("物流有限公司", "91"), ("食品有限公司", "91"),
                      ("装饰工程有限公司", "91"), ("农业专业合作社", "93"), ("便利店", "92"), ("汽车维修部", "92"))


class People:
    """Plausible applicants: names, resident ID numbers and credit codes with correct check characters."""

    def __init__(self, rng: random.Random, today: dt.date, regions: list[str]) -> None:
        self.rng, self.today, self.regions = rng, today, regions
        # Common surnames are far more common: the first ten weigh 8, the next twenty 4, the rest 1.
        self.surname_weights = list(accumulate(8 if n < 10 else 4 if n < 30 else 1 for n in range(len(SURNAMES))))

    def name(self) -> str:
        rng = self.rng
        surname = SURNAMES[bisect_right(self.surname_weights, rng.random() * self.surname_weights[-1])]
        return surname + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")

    def resident_id(self, region: str) -> str:
        """GB 11643: region, birth date (an adult), order, check character."""
        born = self.today - dt.timedelta(days=self.rng.randint(20 * 365, 80 * 365))
        body = f"{region}{born:%Y%m%d}{self.rng.randrange(1000):03d}"
        return body + ric.calc_check_digit(body + "0")  # stdnum reads the first 17 characters

    def credit_code(self, region: str, kind: str) -> str:
        body = f"{kind}{region}{self.rng.randrange(10 ** 9):09d}"
        return body + uscc.calc_check_digit(body)

    def phone(self) -> str:
        return f"1{self.rng.choice('3578')}{self.rng.randrange(10 ** 9):09d}"

    def applicant(self, county: str, org_prefix: str, organisation: bool) -> dict[str, Any]:
        """Applicant columns of a case. Most people live in the county of the hall they go to."""
        region = county if self.rng.random() < 0.85 else self.rng.choice(self.regions)
        person = self.name()
        if organisation:  # the company applies; a staff member (经办人) comes as its agent
            ending, kind = self.rng.choice(ORGANISATION_KINDS)
            trade = self.rng.choice(TRADE_NAMES) + self.rng.choice(TRADE_NAMES)
            return {"applicant_kind": "organisation", "applicant_name": f"{org_prefix}{trade}{ending}",
                    "applicant_id_type": "001", "applicant_id_number": self.credit_code(county, kind),
                    "contact_name": person, "contact_phone": self.phone(), "agent_name": person,
                    "agent_id_number": self.resident_id(region)}
        agent = self.name() if self.rng.random() < 0.1 else ""  # 代办: someone applies on their behalf
        return {"applicant_kind": "person", "applicant_name": person, "applicant_id_type": "111",
                "applicant_id_number": self.resident_id(region), "contact_name": agent or person,
                "contact_phone": self.phone(), "agent_name": agent,
                "agent_id_number": self.resident_id(region) if agent else ""}
