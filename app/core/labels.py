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

TEMPLATE_LABELS = {
    "level_names": LEVEL_NAMES, "role_names": ROLE_NAMES, "window_kinds": WINDOW_KINDS,
    "unit_names": UNIT_NAMES, "item_types": ITEM_TYPES, "online_depths": ONLINE_DEPTHS,
    "necessities": NECESSITIES, "material_forms": MATERIAL_FORMS,
}
