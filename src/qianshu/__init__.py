"""Qianshu (黔数): an open-source platform for a region's data economy."""

__version__ = "0.1.0"
