"""A synthetic population of Guizhou and every department's feed about it, reproducible from a seed.

The demo, the tests and the benchmarks of return-to-poverty monitoring need households that look
like Guizhou's without being anyone's: real division codes (the 9 prefecture-level and 88
county-level divisions, ``core.identifiers``), prefecture populations of the 2020 census
(38,562,100 residents; 12,696,600 family households, so 3.04 residents a household), the census's
age structure, resident IDs with valid check characters, incomes and event rates of the order the
province reports. Townships and villages get synthetic statistical codes inside their county
(county + 3 + 3 digits): the real 12-digit codes are not in our reference data.

Each county is generated on its own, from ``(seed, county code)``, so a county is the same whether it
is generated alone or with the province, and memory stays that of the largest county (about 1.2
million residents) while the province streams through. Everything is vectorised with NumPy and
written as Parquet with Arrow; no Python loop runs per resident.

Rates and amounts are plausible orders of magnitude for a demo, not statistics: the sources named
in the comments give the real figures they imitate.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from qianshu.core.identifiers import ID_CHECK, ID_WEIGHTS

DATA = Path(__file__).resolve().parent.parent / "demo" / "data"
CENSUS_RESIDENTS = 38_562_100  # 2020 census, Guizhou (Seventh National Population Census bulletin)
CENSUS_HOUSEHOLDS = 12_696_600  # family households, same bulletin
# Household sizes 1..8: shares close to the 2020 census's for Guizhou, mean 3.04 (residents / households).
HOUSEHOLD_SIZE_SHARES = np.array([0.215, 0.235, 0.185, 0.155, 0.105, 0.06, 0.03, 0.015])
# Age structure of the 2020 census for Guizhou: 0-14 23.97 %, 15-59 60.65 %, 60+ 15.38 %.
AGE_BANDS = ((0, 14, 0.2397), (15, 59, 0.6065), (60, 95, 0.1538))
RURAL_SHARE = 0.47  # urbanisation 53.2 % in 2020
FEEDS = ("household_registration", "civil_affairs", "human_resources", "education", "medical_insurance",
         "health", "housing", "water", "disabled_persons", "agriculture_households", "agriculture_income",
         "emergency")
# Which department sends which feed (the list; names in docs/monitoring.md).
DEPARTMENTS = {
    "household_registration": "public_security", "civil_affairs": "civil_affairs",
    "human_resources": "human_resources_social_security", "education": "education",
    "medical_insurance": "medical_insurance", "health": "health", "housing": "housing",
    "water": "water_resources", "disabled_persons": "disabled_persons_federation",
    "agriculture_households": "agriculture_rural_affairs", "agriculture_income": "agriculture_rural_affairs",
    "emergency": "emergency_management",
}
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任"
                "沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛龚邵万严覃武戴莫孔向汤"
                "吴杨龙罗")  # repeated Miao, Buyi and Dong surnames weigh a little more, as in Guizhou
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰飞红兵琴云建国成林梅文斌海波辉燕凤荣鹏"
             "德志永春金珍亮晓雪浩宇欣怡子涵梓轩佳琪雨泽")
SERIOUS_ILLNESSES = ("cancer", "uraemia", "leukaemia", "heart_disease", "stroke", "severe_mental_illness")
DISABILITY_KINDS = ("physical", "visual", "hearing", "speech", "intellectual", "mental", "multiple")
DISASTERS = ("flood", "landslide", "drought", "hail", "frost", "fire")
SCHOOL_STAGES = ((6, 11, "primary"), (12, 14, "junior"), (15, 17, "senior"))


@dataclass(frozen=True)
class County:
    code: str
    name: str
    prefecture: str


@dataclass
class Summary:
    """What a run wrote: residents and households per county, rows per feed, the files."""

    seed: int
    year: int
    scale: float
    residents: int = 0
    households: int = 0
    counties: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)


def counties() -> list[County]:
    with (DATA / "guizhou_divisions.csv").open(encoding="utf-8") as fh:
        return [County(r["code"], r["name"], r["prefecture_code"]) for r in csv.DictReader(fh)]


def prefecture_residents() -> dict[str, int]:
    with (DATA / "guizhou_prefectures.csv").open(encoding="utf-8") as fh:
        return {r["code"]: int(r["residents_2020_census"]) for r in csv.DictReader(fh)}


def county_residents() -> dict[str, int]:
    """Each county's residents: its prefecture's census figure split by weights drawn from the
    prefecture's code alone (the census bulletin gives prefectures; the split is synthetic)."""
    by_prefecture: dict[str, list[County]] = {}
    for county in counties():
        by_prefecture.setdefault(county.prefecture, []).append(county)
    out: dict[str, int] = {}
    for prefecture, residents in prefecture_residents().items():
        members = by_prefecture.get(prefecture, [])
        if not members:
            continue
        weights = _rng(0, prefecture).dirichlet(np.full(len(members), 6.0))
        shares = np.floor(weights * residents).astype(np.int64)
        shares[0] += residents - int(shares.sum())  # the prefecture's total, exactly
        out.update({c.code: int(n) for c, n in zip(members, shares, strict=True)})
    return out


def _rng(seed: int, *parts: str) -> np.random.Generator:
    digest = hashlib.sha256(":".join((str(seed), *parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def _choice_text(rng: np.random.Generator, pool: Sequence[str], n: int) -> np.ndarray:
    return np.asarray(pool, dtype=object)[rng.integers(0, len(pool), n)]


def _resident_ids(county: str, births: np.ndarray, male: np.ndarray) -> np.ndarray:
    """18-character resident IDs (GB 11643): county, birth date, a sequence unique per birth date
    whose last digit is odd for men, and the ISO 7064 check character."""
    order = np.lexsort((male, births))
    sorted_births, sorted_male = births[order], male[order]
    group_start = np.r_[True, (sorted_births[1:] != sorted_births[:-1]) | (sorted_male[1:] != sorted_male[:-1])]
    starts = np.flatnonzero(group_start)
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    # 500 sequence numbers per birth date and sex: 2 * rank (+1 for men) in 0..999
    if len(rank) and rank.max() >= 500:
        raise ValueError(f"more than 500 residents of one sex born on one day in {county}")
    sequence = np.empty(len(order), dtype=np.int64)
    sequence[order] = 2 * rank + sorted_male.astype(np.int64)
    days = births.astype("datetime64[D]")
    years = days.astype("datetime64[Y]").astype(np.int64) + 1970
    months = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    mdays = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
    digits = np.zeros((len(births), 17), dtype=np.int64)
    for i, ch in enumerate(county):
        digits[:, i] = int(ch)
    for position, value, width in ((6, years, 4), (10, months, 2), (12, mdays, 2), (14, sequence, 3)):
        for k in range(width):
            digits[:, position + k] = (value // 10 ** (width - 1 - k)) % 10
    check = np.asarray(list(ID_CHECK))[(digits * np.asarray(ID_WEIGHTS)).sum(axis=1) % 11]
    body = digits.astype(np.uint8) + ord("0")
    text = np.concatenate([body, check.astype("S1").view(np.uint8).reshape(-1, 1)], axis=1)
    return np.frombuffer(text.tobytes(), dtype="S18").astype("U18")


class CountyPopulation:
    """One county's households, residents and feeds (as Arrow tables)."""

    def __init__(self, county: County, residents: int, *, seed: int, year: int) -> None:
        self.county, self.year = county, year
        self.rng = _rng(seed, county.code)
        self._households(residents)
        self._residents()

    # --- who lives where ---------------------------------------------------------------------
    def _households(self, residents: int) -> None:
        rng = self.rng
        shares = HOUSEHOLD_SIZE_SHARES / HOUSEHOLD_SIZE_SHARES.sum()
        n = max(1, round(residents * CENSUS_HOUSEHOLDS / CENSUS_RESIDENTS))
        sizes = rng.choice(np.arange(1, 9), size=n, p=shares)
        excess = int(sizes.sum()) - residents  # trim or pad to the county's residents exactly
        while excess != 0:
            pick = rng.integers(0, n, abs(excess))
            np.add.at(sizes, pick, -1 if excess > 0 else 1)
            sizes = np.clip(sizes, 1, 12)
            excess = int(sizes.sum()) - residents
            if excess > 0 and (sizes > 1).sum() == 0:
                break
        townships = int(rng.integers(8, 26))
        villages_per = rng.integers(6, 21, townships)
        village_codes = np.asarray([f"{self.county.code}{t + 1:03d}{v + 1:03d}"
                                    for t in range(townships) for v in range(villages_per[t])])
        weights = rng.dirichlet(np.full(len(village_codes), 4.0))
        village = rng.choice(len(village_codes), size=n, p=weights)
        order = np.argsort(village, kind="stable")
        village, sizes = village[order], sizes[order]
        seq = np.arange(n) - np.searchsorted(village, village)  # household number within its village
        self.household_village = village_codes[village]
        self.household_id = np.char.add(self.household_village.astype("U12"),
                                        np.char.zfill(seq.astype("U5"), 5))
        self.household_size = sizes
        # Villages (村) are rural, communities (社区) urban: a whole village shares its kind.
        self.rural = (rng.random(len(village_codes)) < RURAL_SHARE)[village]
        # Per-capita net income a year (yuan): rural and urban log-normal medians near Guizhou's 2023
        # per-capita disposable incomes (rural about 14,800, urban about 42,800).
        median = np.where(self.rural, 15_500.0, 38_000.0)
        self.income = np.round(median * rng.lognormal(0.0, 0.42, n), -1)
        # Households lifted out of poverty by 2020 (脱贫户): about 9.2 million people, mostly rural
        # and in the lower part of the income distribution.
        low = self.income < np.quantile(self.income, 0.45)
        self.lifted = self.rural & low & (rng.random(n) < 0.85)
        self.n_households = n

    def _residents(self) -> None:
        rng = self.rng
        sizes = self.household_size
        total = int(sizes.sum())
        self.member_household = np.repeat(np.arange(self.n_households), sizes)
        first = np.r_[0, np.cumsum(sizes)[:-1]]
        position = np.arange(total) - np.repeat(first, sizes)
        band = rng.choice(len(AGE_BANDS), size=total, p=[b[2] for b in AGE_BANDS])
        low = np.asarray([b[0] for b in AGE_BANDS])[band]
        high = np.asarray([b[1] for b in AGE_BANDS])[band]
        drawn = low + np.floor(rng.random(total) * (high - low + 1)).astype(np.int64)
        # The census's ages, dealt so that every head of household is an adult: heads take adult
        # ages first, everyone else the rest in random order (the county's distribution is unchanged).
        adult = rng.permutation(np.flatnonzero(drawn >= 22))
        heads = position == 0
        if len(adult) < int(heads.sum()):  # a tiny county at a tiny scale: make heads adults anyway
            drawn[rng.permutation(np.flatnonzero(drawn < 22))[: int(heads.sum()) - len(adult)]] = 30
            adult = rng.permutation(np.flatnonzero(drawn >= 22))
        rest = np.ones(total, dtype=bool)
        rest[adult[: int(heads.sum())]] = False
        age = np.empty(total, dtype=np.int64)
        age[heads] = drawn[adult[: int(heads.sum())]]
        age[~heads] = rng.permutation(drawn[rest])
        self.age = np.minimum(age, 100)
        self.male = rng.random(total) < 0.51
        year_start = np.datetime64(f"{self.year}-01-01")
        birth = year_start - (self.age * 365.25).astype("timedelta64[D]") - rng.integers(0, 365, total).astype(
            "timedelta64[D]")
        self.birth = birth.astype("datetime64[D]")
        self.resident_id = _resident_ids(self.county.code, self.birth, self.male)
        surname = _choice_text(rng, SURNAMES, self.n_households)[self.member_household]
        given = _choice_text(rng, GIVEN, total) + np.where(rng.random(total) < 0.6,
                                                           _choice_text(rng, GIVEN, total), "")
        self.name = surname + given
        relation = np.full(total, "child", dtype=object)
        relation[position == 0] = "head"
        relation[(position == 1) & (self.age >= 20)] = "spouse"
        relation[(position >= 2) & (self.age >= 60)] = "parent"
        self.relation = relation
        self.position = position
        self.n_residents = total

    # --- the feeds ----------------------------------------------------------------------------
    def tables(self) -> Iterator[tuple[str, pa.Table]]:
        for feed in FEEDS:
            yield feed, getattr(self, f"_{feed}")()

    def _pick(self, probability: np.ndarray | float, n: int) -> np.ndarray:
        return np.flatnonzero(self.rng.random(n) < probability)

    def _date(self, n: int) -> np.ndarray:
        return (np.datetime64(f"{self.year}-01-01") + self.rng.integers(0, 365, n).astype("timedelta64[D]"))

    def _household_registration(self) -> pa.Table:
        hh = self.member_household
        return pa.table({
            "resident_id": self.resident_id, "name": self.name.astype(str),
            "sex": np.where(self.male, "1", "2"), "birth_date": self.birth,
            "household_id": self.household_id[hh], "relation": self.relation.astype(str),
            "division_code": self.household_village[hh],
            "hukou_type": np.where(self.rural[hh], "rural", "urban"),
        })

    def _heads(self, households: np.ndarray) -> np.ndarray:
        first = np.r_[0, np.cumsum(self.household_size)[:-1]]
        heads: np.ndarray = self.resident_id[first[households]]
        return heads

    def _civil_affairs(self) -> pa.Table:
        n = self.n_households
        poor = self.income < 5_500
        dibao = self._pick(np.where(poor, 0.55, 0.0) + np.where(self.rural, 0.02, 0.005), n)
        tekun = self._pick(np.where((self.household_size == 1) & self.rural, 0.04, 0.0), n)
        households = np.r_[dibao, tekun]
        kind = np.r_[np.full(len(dibao), "minimum_living_allowance"), np.full(len(tekun), "special_hardship")]
        # Guizhou's 2024 rural minimum-living standard is about 6,000 yuan a year a person.
        monthly = np.round(self.household_size[households] * self.rng.uniform(250, 520, len(households)), 0)
        return pa.table({"household_id": self.household_id[households], "head_resident_id": self._heads(households),
                         "assistance": kind.astype(str), "monthly_amount_fen": (monthly * 100).astype(np.int64),
                         "start_date": self._date(len(households)) - np.timedelta64(365, "D")})

    def _human_resources(self) -> pa.Table:
        adult = np.flatnonzero(self.age >= 16)
        age = self.age[adult]
        roll = self.rng.random(len(adult))
        status = np.where(age >= 60, "retired",
                          np.where(age <= 18, "student",
                                   np.where(roll < 0.035, "unemployed",
                                            np.where(roll < 0.82, "employed", "not_in_labour_force"))))
        household = self.member_household[adult]
        # A household with no one employed: its head works unless retired (its income comes from somewhere).
        idle = np.bincount(household[status == "employed"], minlength=self.n_households) == 0
        status = np.where(idle[household] & (self.position[adult] == 0) & (age < 60), "employed", status)
        # The household's income is earned by its employed members, or else paid as its retirees'
        # pensions: each earns its share of it (unemployed households keep a low income).
        earning = status == "employed"
        earners = np.bincount(household[earning], minlength=self.n_households)
        retirees = np.bincount(household[status == "retired"], minlength=self.n_households)
        paid = np.where(earners[household] > 0, earning, status == "retired")
        count = np.where(earners[household] > 0, earners[household], np.maximum(retirees[household], 1))
        share = self.income[household] * self.household_size[household] / count / 12
        amount = np.where(paid, np.round(share * self.rng.uniform(0.85, 1.15, len(adult)), 0), 0)
        wage = np.where(earning, amount, 0)
        pension = np.where(status == "retired", np.maximum(amount, np.round(self.rng.uniform(150, 600, len(adult)))), 0)
        return pa.table({"resident_id": self.resident_id[adult], "status": status.astype(str),
                         "monthly_wage_fen": (wage * 100).astype(np.int64),
                         "monthly_pension_fen": (pension * 100).astype(np.int64),
                         "as_of": np.full(len(adult), np.datetime64(f"{self.year}-06-30"))})

    def _education(self) -> pa.Table:
        pupils = np.flatnonzero((self.age >= 6) & (self.age <= 17))
        age = self.age[pupils]
        stage = np.full(len(pupils), "primary", dtype=object)
        for low, high, name in SCHOOL_STAGES:
            stage[(age >= low) & (age <= high)] = name
        poor = self.income[self.member_household[pupils]] < 8_000
        status = np.where(self.rng.random(len(pupils)) < np.where(poor, 0.012, 0.002), "dropped_out", "enrolled")
        aid = np.where(poor & (status == "enrolled"), self.rng.choice([500, 1000, 2000], len(pupils)), 0)
        return pa.table({"resident_id": self.resident_id[pupils], "school_stage": stage.astype(str),
                         "status": status.astype(str), "aid_fen": (aid * 100).astype(np.int64),
                         "term": np.full(len(pupils), f"{self.year}-spring")})

    def _medical_insurance(self) -> pa.Table:
        n = self.n_residents
        claims = self._pick(0.12 + 0.25 * (self.age >= 60), n)
        cost = np.round(self.rng.lognormal(7.6, 1.2, len(claims)), 0)  # median about 2,000 yuan
        reimbursed = np.round(cost * self.rng.uniform(0.45, 0.85, len(claims)), 0)
        return pa.table({"resident_id": self.resident_id[claims], "claim_date": self._date(len(claims)),
                         "total_cost_fen": (cost * 100).astype(np.int64),
                         "reimbursed_fen": (reimbursed * 100).astype(np.int64),
                         "out_of_pocket_fen": ((cost - reimbursed) * 100).astype(np.int64)})

    def _health(self) -> pa.Table:
        ill = self._pick(0.004 + 0.02 * (self.age >= 60), self.n_residents)
        return pa.table({"resident_id": self.resident_id[ill],
                         "disease_category": _choice_text(self.rng, SERIOUS_ILLNESSES, len(ill)).astype(str),
                         "diagnosed_on": self._date(len(ill))})

    def _housing(self) -> pa.Table:
        n = self.n_households
        assessed = self._pick(np.where(self.rural, 0.6, 0.05), n)
        grade = self.rng.choice(np.array(["A", "B", "C", "D"]), len(assessed), p=[0.7, 0.285, 0.011, 0.004])
        return pa.table({"household_id": self.household_id[assessed], "grade": grade,
                         "assessed_on": self._date(len(assessed))})

    def _water(self) -> pa.Table:
        rural = np.flatnonzero(self.rural)
        safe = self.rng.random(len(rural)) >= 0.004
        return pa.table({"household_id": self.household_id[rural], "drinking_water_safe": safe,
                         "assessed_on": self._date(len(rural))})

    def _disabled_persons(self) -> pa.Table:
        disabled = self._pick(0.03 + 0.12 * (self.age >= 60), self.n_residents)  # about 6 % overall
        return pa.table({"resident_id": self.resident_id[disabled],
                         "disability_kind": _choice_text(self.rng, DISABILITY_KINDS, len(disabled)).astype(str),
                         "grade": self.rng.choice(np.arange(1, 5), len(disabled), p=[0.1, 0.2, 0.3, 0.4]).astype(
                             np.int8),
                         "certified_on": self._date(len(disabled)) - np.timedelta64(730, "D")})

    def _agriculture_households(self) -> pa.Table:
        rural = np.flatnonzero(self.rural)
        return pa.table({"household_id": self.household_id[rural],
                         "lifted_out_of_poverty": self.lifted[rural],
                         "lifted_year": np.where(self.lifted[rural], self.rng.integers(2014, 2021, len(rural)), 0)
                         .astype(np.int16),
                         "annual_income_per_capita_fen": (self.income[rural] * 100).astype(np.int64)})

    def _agriculture_income(self) -> pa.Table:
        """Monthly per-capita income of rural households for the year (the income survey): seasonal,
        noisy, and for about 2 % of households a sharp drop from a random month on."""
        rural = np.flatnonzero(self.rural)
        months = 12
        season = 1.0 + 0.25 * np.sin(np.arange(months) * np.pi / 6 - 1.0)
        base = self.income[rural][:, None] / 12 * season[None, :]
        noise = self.rng.lognormal(0.0, 0.15, (len(rural), months))
        income = base * noise
        drops = np.flatnonzero(self.rng.random(len(rural)) < 0.02)
        start = self.rng.integers(1, months, len(drops))
        mask = np.arange(months)[None, :] >= start[:, None]
        income[drops] = np.where(mask, income[drops] * self.rng.uniform(0.2, 0.5, (len(drops), 1)), income[drops])
        month = np.tile(np.arange(months), len(rural))
        first_days = np.asarray([np.datetime64(f"{self.year}-{m + 1:02d}-01") for m in range(months)])
        return pa.table({"household_id": np.repeat(self.household_id[rural], months),
                         "month": first_days[month],
                         "per_capita_income_fen": np.round(income.ravel() * 100).astype(np.int64)})

    def _emergency(self) -> pa.Table:
        hit = self._pick(np.where(self.rural, 0.012, 0.002), self.n_households)
        loss = np.round(self.rng.lognormal(9.2, 1.0, len(hit)), -1)  # median about 10,000 yuan
        return pa.table({"household_id": self.household_id[hit], "event_date": self._date(len(hit)),
                         "disaster_kind": _choice_text(self.rng, DISASTERS, len(hit)).astype(str),
                         "loss_fen": (loss * 100).astype(np.int64)})


def select_counties(scope: Iterable[str] | None) -> list[County]:
    """The counties of a scope: county codes, prefecture codes (all their counties), or None (the province)."""
    everything = counties()
    if scope is None:
        return everything
    wanted = set(scope)
    chosen = [c for c in everything if c.code in wanted or c.prefecture in wanted or "520000" in wanted]
    unknown = wanted - {c.code for c in everything} - {c.prefecture for c in everything} - {"520000"}
    if unknown:
        raise ValueError(f"unknown division codes: {', '.join(sorted(unknown))}")
    return chosen


def generate(out_dir: Path, *, scope: Iterable[str] | None = None, scale: float = 1.0, seed: int = 2020,
             year: int | None = None, progress: Callable[[County, int], None] | None = None) -> Summary:
    """Write one Parquet file per feed into ``out_dir`` for the counties of ``scope`` at ``scale``
    (1.0: the census's residents; 0.01 for a quick demo) and return what was written."""
    if not 0 < scale <= 1:
        raise ValueError("scale must be in (0, 1]")
    year = year or date.today().year
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = Summary(seed=seed, year=year, scale=scale)
    writers: dict[str, pq.ParquetWriter] = {}
    sizes = county_residents()
    try:
        for county in select_counties(scope):
            residents = max(1, round(sizes[county.code] * scale))
            population = CountyPopulation(county, residents, seed=seed, year=year)
            for feed, table in population.tables():
                if feed not in writers:
                    summary.files[feed] = out_dir / f"{feed}.parquet"
                    writers[feed] = pq.ParquetWriter(summary.files[feed], table.schema, compression="zstd")
                writers[feed].write_table(table, row_group_size=1_000_000)
                summary.rows[feed] = summary.rows.get(feed, 0) + table.num_rows
            summary.counties[county.code] = population.n_residents
            summary.residents += population.n_residents
            summary.households += population.n_households
            if progress is not None:
                progress(county, population.n_residents)
    finally:
        for writer in writers.values():
            writer.close()
    return summary
