"""Monitoring's enumerated values, shown through ``|label(context)`` (feeds, rules and runs block;
cases and dashboards add theirs below)."""

from __future__ import annotations

from qianshu.core.i18n import NP_

LABELS = (
    NP_("job kind", "monitoring.run"),
    NP_("monitoring feed", "household_registration"),
    NP_("monitoring feed", "civil_affairs"),
    NP_("monitoring feed", "human_resources"),
    NP_("monitoring feed", "education"),
    NP_("monitoring feed", "medical_insurance"),
    NP_("monitoring feed", "health"),
    NP_("monitoring feed", "housing"),
    NP_("monitoring feed", "water"),
    NP_("monitoring feed", "disabled_persons"),
    NP_("monitoring feed", "agriculture_households"),
    NP_("monitoring feed", "agriculture_income"),
    NP_("monitoring feed", "emergency"),
    NP_("monitoring parameter", "income_threshold_fen"),
    NP_("monitoring parameter", "marginal_factor"),
    NP_("monitoring parameter", "sharp_drop_ratio"),
    NP_("monitoring parameter", "medical_burden_ratio"),
    NP_("monitoring parameter", "disaster_loss_ratio"),
    NP_("monitoring parameter", "disability_max_grade"),
    NP_("monitoring parameter", "enabled"),
    NP_("monitoring rule", "income_below_threshold"),
    NP_("monitoring rule", "sharp_income_drop"),
    NP_("monitoring rule", "medical_burden"),
    NP_("monitoring rule", "serious_illness"),
    NP_("monitoring rule", "education_dropout"),
    NP_("monitoring rule", "unsafe_housing"),
    NP_("monitoring rule", "unsafe_drinking_water"),
    NP_("monitoring rule", "severe_disability"),
    NP_("monitoring rule", "no_employment"),
    NP_("monitoring rule", "disaster_loss"),
    NP_("monitored type", "unstable_lifted"),
    NP_("monitored type", "marginal"),
    NP_("monitored type", "sudden_difficulty"),
)
