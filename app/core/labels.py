"""Chinese labels for codes shown in the UI (translated like any other UI text)."""

LEVEL_NAMES = {"province": "省", "city": "市", "county": "县区", "town": "乡镇街道", "village": "村社区"}
ROLE_NAMES = {
    "city_admin": "市级管理员", "county_admin": "县区管理员", "clerk": "综合受理人员",
    "reviewer": "后台审批人员", "issuer": "出件人员", "auditor": "审计人员",
}
WINDOW_KINDS = {"comprehensive": "综合受理", "issuance": "统一出件", "dedicated": "专窗"}
UNIT_NAMES = {"working": "工作日", "natural": "自然日"}
ITEM_TYPES = {
    "01": "行政许可", "05": "行政给付", "07": "行政确认", "08": "行政奖励", "09": "行政裁决",
    "20": "其他行政权力", "21": "公共服务",
}
ONLINE_DEPTHS = {1: "Ⅰ 公开", 2: "Ⅱ 在线预审", 3: "Ⅲ 在线办理", 4: "Ⅳ 全程网办"}
NECESSITIES = {"required": "必要", "optional": "非必要", "deferrable": "容缺后补"}
MATERIAL_FORMS = {"paper": "纸质", "electronic": "电子", "both": "纸质或电子"}

# Cases (办件)
APPLICANT_KINDS = {"person": "自然人", "organisation": "法人或其他组织"}
ID_TYPES = {"111": "居民身份证", "001": "统一社会信用代码"}
CHANNELS = {"window": "窗口受理", "online": "网上申办"}
MATERIAL_STATUSES = {"paper": "纸质", "electronic": "电子", "missing": "缺", "deferred": "容缺"}
TASK_STATES = {"pending": "待审查", "approved": "同意", "refused": "不同意", "withdrawn": "已撤回"}
SATISFACTION = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}
# 行政许可法 §45: the procedures whose time is not counted.
PROCEDURES = {
    "hearing": "听证", "tendering": "招标拍卖", "inspection": "现场核查", "testing": "检验检测",
    "quarantine": "检疫", "appraisal": "鉴定", "expert": "专家评审",
}
PAUSE_KINDS = {"special": "特别程序", "correction": "补正"}
DELIVERIES = {"collect": "窗口领取", "mail": "邮寄送达"}
CASE_EVENTS = {
    "case.submitted": "网上申办", "case.pre_accepted": "预受理", "case.accepted": "受理",
    "case.correction_requested": "一次性告知补正", "case.corrected": "补正受理", "case.refused": "不予受理",
    "case.withdrawn": "撤回", "case.reviewed": "部门审查", "case.decided": "作出决定",
    "case.decided_at_window": "当场办结", "case.suspended": "特别程序开始", "case.resumed": "特别程序结束",
    "case.evaluated": "评价", "case.issued": "出件",
}

TEMPLATE_LABELS = {
    "level_names": LEVEL_NAMES, "role_names": ROLE_NAMES, "window_kinds": WINDOW_KINDS,
    "unit_names": UNIT_NAMES, "item_types": ITEM_TYPES, "online_depths": ONLINE_DEPTHS,
    "necessities": NECESSITIES, "material_forms": MATERIAL_FORMS,
    "applicant_kinds": APPLICANT_KINDS, "id_types": ID_TYPES, "channels": CHANNELS,
    "material_statuses": MATERIAL_STATUSES, "task_states": TASK_STATES, "satisfaction_levels": SATISFACTION,
    "procedures": PROCEDURES, "pause_kinds": PAUSE_KINDS, "deliveries": DELIVERIES, "case_events": CASE_EVENTS,
}
