"""Names of industries (GB/T 4754-2017: its 20 sections and 97 divisions) and of Guizhou's regions
(GB/T 2260, with English names for the province and its prefectures), in both languages: for
every page that shows an industry or region code, and the choices of the pages' pickers
(``industry_choices``, ``region_choices``; ``web/templates/pickers.html``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from qianshu.core.errors import InvalidInput
from qianshu.core.identifiers import guizhou_divisions, guizhou_parents

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
INDUSTRY_DIVISIONS = {  # GB/T 4754-2017 大类: all 97, each under its section's letter
    "A01": ("农业", "Agriculture"),
    "A02": ("林业", "Forestry"),
    "A03": ("畜牧业", "Animal husbandry"),
    "A04": ("渔业", "Fishery"),
    "A05": ("农、林、牧、渔专业及辅助性活动", "Support activities for agriculture, forestry, husbandry and fishery"),
    "B06": ("煤炭开采和洗选业", "Coal mining and washing"),
    "B07": ("石油和天然气开采业", "Oil and natural gas extraction"),
    "B08": ("黑色金属矿采选业", "Ferrous metal ore mining"),
    "B09": ("有色金属矿采选业", "Non-ferrous metal ore mining"),
    "B10": ("非金属矿采选业", "Non-metallic mineral mining"),
    "B11": ("开采专业及辅助性活动", "Mining support activities"),
    "B12": ("其他采矿业", "Other mining"),
    "C13": ("农副食品加工业", "Processing of agricultural and sideline food"),
    "C14": ("食品制造业", "Food manufacturing"),
    "C15": ("酒、饮料和精制茶制造业", "Liquor, beverages and refined tea"),
    "C16": ("烟草制品业", "Tobacco products"),
    "C17": ("纺织业", "Textiles"),
    "C18": ("纺织服装、服饰业", "Clothing and apparel"),
    "C19": ("皮革、毛皮、羽毛及其制品和制鞋业", "Leather, fur, feathers and footwear"),
    "C20": ("木材加工和木、竹、藤、棕、草制品业", "Wood, bamboo, rattan, palm and straw products"),
    "C21": ("家具制造业", "Furniture"),
    "C22": ("造纸和纸制品业", "Paper and paper products"),
    "C23": ("印刷和记录媒介复制业", "Printing and reproduction of recorded media"),
    "C24": ("文教、工美、体育和娱乐用品制造业", "Stationery, crafts, sports and leisure goods"),
    "C25": ("石油、煤炭及其他燃料加工业", "Petroleum, coal and other fuel processing"),
    "C26": ("化学原料和化学制品制造业", "Chemical raw materials and chemical products"),
    "C27": ("医药制造业", "Pharmaceuticals"),
    "C28": ("化学纤维制造业", "Chemical fibres"),
    "C29": ("橡胶和塑料制品业", "Rubber and plastic products"),
    "C30": ("非金属矿物制品业", "Non-metallic mineral products"),
    "C31": ("黑色金属冶炼和压延加工业", "Ferrous metal smelting and rolling"),
    "C32": ("有色金属冶炼和压延加工业", "Non-ferrous metal smelting and rolling"),
    "C33": ("金属制品业", "Metal products"),
    "C34": ("通用设备制造业", "General-purpose machinery"),
    "C35": ("专用设备制造业", "Special-purpose machinery"),
    "C36": ("汽车制造业", "Motor vehicles"),
    "C37": ("铁路、船舶、航空航天和其他运输设备制造业", "Railway, ships, aerospace and other transport equipment"),
    "C38": ("电气机械和器材制造业", "Electrical machinery and equipment"),
    "C39": ("计算机、通信和其他电子设备制造业", "Computers and electronic equipment"),
    "C40": ("仪器仪表制造业", "Instruments and meters"),
    "C41": ("其他制造业", "Other manufacturing"),
    "C42": ("废弃资源综合利用业", "Recycling of waste resources"),
    "C43": ("金属制品、机械和设备修理业", "Repair of metal products, machinery and equipment"),
    "D44": ("电力、热力生产和供应业", "Electricity and heat supply"),
    "D45": ("燃气生产和供应业", "Gas production and supply"),
    "D46": ("水的生产和供应业", "Water production and supply"),
    "E47": ("房屋建筑业", "Building construction"),
    "E48": ("土木工程建筑业", "Civil engineering"),
    "E49": ("建筑安装业", "Construction installation"),
    "E50": ("建筑装饰、装修和其他建筑业", "Building decoration and other construction"),
    "F51": ("批发业", "Wholesale trade"),
    "F52": ("零售业", "Retail trade"),
    "G53": ("铁路运输业", "Rail transport"),
    "G54": ("道路运输业", "Road transport"),
    "G55": ("水上运输业", "Water transport"),
    "G56": ("航空运输业", "Air transport"),
    "G57": ("管道运输业", "Pipeline transport"),
    "G58": ("多式联运和运输代理业", "Multimodal transport and forwarding"),
    "G59": ("装卸搬运和仓储业", "Warehousing"),
    "G60": ("邮政业", "Postal services"),
    "H61": ("住宿业", "Accommodation"),
    "H62": ("餐饮业", "Catering"),
    "I63": ("电信、广播电视和卫星传输服务", "Telecommunications, broadcasting and satellite transmission"),
    "I64": ("互联网和相关服务", "Internet services"),
    "I65": ("软件和信息技术服务业", "Software and IT services"),
    "J66": ("货币金融服务", "Banking"),
    "J67": ("资本市场服务", "Capital market services"),
    "J68": ("保险业", "Insurance"),
    "J69": ("其他金融业", "Other financial services"),
    "K70": ("房地产业", "Real estate"),
    "L71": ("租赁业", "Leasing"),
    "L72": ("商务服务业", "Business services"),
    "M73": ("研究和试验发展", "Research and experimental development"),
    "M74": ("专业技术服务业", "Professional technical services"),
    "M75": ("科技推广和应用服务业", "Technology promotion and application services"),
    "N76": ("水利管理业", "Water management"),
    "N77": ("生态保护和环境治理业", "Ecological protection"),
    "N78": ("公共设施管理业", "Public facilities"),
    "N79": ("土地管理业", "Land management"),
    "O80": ("居民服务业", "Resident services"),
    "O81": ("机动车、电子产品和日用产品修理业", "Repair of motor vehicles, electronics and household goods"),
    "O82": ("其他服务业", "Other services"),
    "P83": ("教育", "Education"),
    "Q84": ("卫生", "Health"),
    "Q85": ("社会工作", "Social work"),
    "R86": ("新闻和出版业", "News and publishing"),
    "R87": ("广播、电视、电影和录音制作业", "Radio, television, film and sound recording"),
    "R88": ("文化艺术业", "Culture and arts"),
    "R89": ("体育", "Sports"),
    "R90": ("娱乐业", "Entertainment"),
    "S91": ("中国共产党机关", "Organs of the Communist Party of China"),
    "S92": ("国家机构", "State organs"),
    "S93": ("人民政协、民主党派", "CPPCC and democratic parties"),
    "S94": ("社会保障", "Social security"),
    "S95": ("群众团体、社会团体和其他成员组织", "Mass organisations, social organisations and other membership bodies"),
    "S96": ("基层群众自治组织及其他组织", "Community self-governing and other organisations"),
    "T97": ("国际组织", "International organisations"),
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
PROVINCES = {  # GB/T 2260 province-level divisions (the prefixes identifiers.PROVINCE_PREFIXES accepts)
    "110000": ("北京市", "Beijing"), "120000": ("天津市", "Tianjin"), "130000": ("河北省", "Hebei"),
    "140000": ("山西省", "Shanxi"), "150000": ("内蒙古自治区", "Inner Mongolia"), "210000": ("辽宁省", "Liaoning"),
    "220000": ("吉林省", "Jilin"), "230000": ("黑龙江省", "Heilongjiang"), "310000": ("上海市", "Shanghai"),
    "320000": ("江苏省", "Jiangsu"), "330000": ("浙江省", "Zhejiang"), "340000": ("安徽省", "Anhui"),
    "350000": ("福建省", "Fujian"), "360000": ("江西省", "Jiangxi"), "370000": ("山东省", "Shandong"),
    "410000": ("河南省", "Henan"), "420000": ("湖北省", "Hubei"), "430000": ("湖南省", "Hunan"),
    "440000": ("广东省", "Guangdong"), "450000": ("广西壮族自治区", "Guangxi"), "460000": ("海南省", "Hainan"),
    "500000": ("重庆市", "Chongqing"), "510000": ("四川省", "Sichuan"), "520000": ("贵州省", "Guizhou"),
    "530000": ("云南省", "Yunnan"), "540000": ("西藏自治区", "Xizang"), "610000": ("陕西省", "Shaanxi"),
    "620000": ("甘肃省", "Gansu"), "630000": ("青海省", "Qinghai"), "640000": ("宁夏回族自治区", "Ningxia"),
    "650000": ("新疆维吾尔自治区", "Xinjiang"), "710000": ("台湾省", "Taiwan"),
    "810000": ("香港特别行政区", "Hong Kong"), "820000": ("澳门特别行政区", "Macao"),
}


def industry_name(code: str, lang: str) -> str:
    names = INDUSTRY_DIVISIONS.get(code) or INDUSTRY_SECTIONS.get(code[:1])
    if not names:
        return code
    return names[1] if lang == "en" else names[0]


def industry_label(code: str | None, lang: str) -> str:
    """An industry as a reader sees it: its name, then its code (``软件和信息技术服务业 (I65)``);
    an unknown code as it is."""
    if not code:
        return ""
    name = industry_name(code, lang)
    return code if name == code else f"{name} ({code})"


def region_name(code: str, lang: str) -> str:
    if lang == "en" and code in PREFECTURES_EN:
        return PREFECTURES_EN[code]
    return guizhou_divisions().get(code, code)


def validate_industry_code(value: str, field: str = "industry_code", *, sections: bool = False) -> str:
    """A GB/T 4754-2017 division (``G54``), or with ``sections`` also a section letter (``G``);
    anything else is refused with a bilingual error naming the field."""
    code = value.strip().upper()
    if code in INDUSTRY_DIVISIONS or (sections and code in INDUSTRY_SECTIONS):
        return code
    raise InvalidInput("{field}: {reason}", field=field, code="invalid_" + field,
                       reason="is not a GB/T 4754-2017 industry code")


@dataclass(frozen=True)
class Choice:
    code: str
    name: str  # in the page's language (the Chinese name where there is no English one)
    other: str = ""  # the name in the other language, for filtering by either
    children: tuple[Choice, ...] = ()


@lru_cache(maxsize=4)
def industry_choices(lang: str) -> tuple[Choice, ...]:
    """Sections, each with its divisions, for a picker."""
    other = "zh" if lang == "en" else "en"
    return tuple(
        Choice(letter, industry_name(letter, lang), industry_name(letter, other), tuple(
            Choice(code, industry_name(code, lang), industry_name(code, other))
            for code in INDUSTRY_DIVISIONS if code[0] == letter))
        for letter in INDUSTRY_SECTIONS
    )


@lru_cache(maxsize=4)
def province_choices(lang: str) -> tuple[Choice, ...]:
    """The other provinces (province-level codes), for a picker of places outside Guizhou too."""
    i = 1 if lang == "en" else 0
    return tuple(Choice(code, names[i], names[1 - i]) for code, names in PROVINCES.items() if code != "520000")


@lru_cache(maxsize=4)
def region_choices(lang: str) -> Choice:
    """Guizhou, its prefectures, and each prefecture's county-level divisions, for a picker."""
    other = "zh" if lang == "en" else "en"
    parents = guizhou_parents()

    def choice(code: str, children: tuple[Choice, ...] = ()) -> Choice:
        return Choice(code, region_name(code, lang), region_name(code, other), children)

    prefectures = [code for code in guizhou_divisions() if code != "520000" and code.endswith("00")]
    return choice("520000", tuple(
        choice(p, tuple(choice(c) for c in guizhou_divisions() if parents.get(c) == p and not c.endswith("00")))
        for p in prefectures))
