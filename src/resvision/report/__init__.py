"""Run records: the run folder's files and the self-contained ``report.html`` built from them.

>>> from resvision.report import build_report
"""

from resvision.report.page import build_report

__all__ = ["build_report"]
