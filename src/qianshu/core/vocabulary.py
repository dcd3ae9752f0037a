"""Names of industries (GB/T 4754-2017 sections and the divisions Qianshu's data uses) and of
Guizhou's regions (GB/T 2260, with English names for the province and its prefectures), in
both languages: for every page that shows an industry or region code."""

from __future__ import annotations

from qianshu.core.identifiers import guizhou_divisions

INDUSTRY_SECTIONS = {  # GB/T 4754-2017 门类
    "A": ("农、林、牧、渔业", "Agriculture, forestry, animal husbandry and fishery"),
    "B": ("采矿业", "Mining"),
    "C": ("制造业", "Manufacturing"),
    "D": ("电力、热力、燃气及水生产和供应业", "Electricity, heat, gas and water"),
    "E": ("建筑业", "Construction"),
    "F": ("批发和零售业", "Wholesale and retail trade"),
    "G": ("交通运输、仓储和邮政业", "Transport, storage and post"),
    "H": ("住宿和餐饮业", "Accommodation and catering"),
    "I": ("信息传输、软件和信息技术服务业", "Information transmission, software and IT services"),
    "J": ("金融业", "Finance"),
    "K": ("房地产业", "Real estate"),
    "L": ("租赁和商务服务业", "Leasing and business services"),
    "M": ("科学研究和技术服务业", "Scientific research and technical services"),
    "N": ("水利、环境和公共设施管理业", "Water, environment and public facilities"),
    "O": ("居民服务、修理和其他服务业", "Resident services and repair"),
    "P": ("教育", "Education"),
    "Q": ("卫生和社会工作", "Health and social work"),
    "R": ("文化、体育和娱乐业", "Culture, sports and entertainment"),
    "S": ("公共管理、社会保障和社会组织", "Public administration and social security"),
    "T": ("国际组织", "International organisations"),
}
INDUSTRY_DIVISIONS = {  # the GB/T 4754 大类 used by demo products; others show their section
    "A01": ("农业", "Agriculture"),
    "A03": ("畜牧业", "Animal husbandry"),
    "C39": ("计算机、通信和其他电子设备制造业", "Computers and electronic equipment"),
    "D44": ("电力、热力生产和供应业", "Electricity and heat supply"),
    "F52": ("零售业", "Retail trade"),
    "G54": ("道路运输业", "Road transport"),
    "G58": ("多式联运和运输代理业", "Multimodal transport and forwarding"),
    "G59": ("装卸搬运和仓储业", "Warehousing"),
    "H61": ("住宿业", "Accommodation"),
    "I64": ("互联网和相关服务", "Internet services"),
    "I65": ("软件和信息技术服务业", "Software and IT services"),
    "J66": ("货币金融服务", "Banking"),
    "J68": ("保险业", "Insurance"),
    "M74": ("专业技术服务业", "Professional technical services"),
    "N77": ("生态保护和环境治理业", "Ecological protection"),
    "N78": ("公共设施管理业", "Public facilities"),
    "Q84": ("卫生", "Health"),
    "R88": ("文化艺术业", "Culture and arts"),
    "S93": ("社会保障", "Social security"),
}
PREFECTURES_EN = {
    "520000": "Guizhou",
    "520100": "Guiyang",
    "520200": "Liupanshui",
    "520300": "Zunyi",
    "520400": "Anshun",
    "520500": "Bijie",
    "520600": "Tongren",
    "522300": "Qianxinan",
    "522600": "Qiandongnan",
    "522700": "Qiannan",
}


def industry_name(code: str, lang: str) -> str:
    names = INDUSTRY_DIVISIONS.get(code) or INDUSTRY_SECTIONS.get(code[:1])
    if not names:
        return code
    return names[1] if lang == "en" else names[0]


def region_name(code: str, lang: str) -> str:
    if lang == "en" and code in PREFECTURES_EN:
        return PREFECTURES_EN[code]
    return guizhou_divisions().get(code, code)
