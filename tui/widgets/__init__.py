"""Widgets shared by the TUI's screens."""

from tui.widgets.authorization import authorization_table, job_authorization, job_status_table
from tui.widgets.banner import LedgerBanner
from tui.widgets.filter_table import FilterTable

__all__ = [
    "FilterTable",
    "LedgerBanner",
    "authorization_table",
    "job_authorization",
    "job_status_table",
]
