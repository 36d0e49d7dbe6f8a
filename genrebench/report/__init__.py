"""Generated reports: runs read from MLflow alone -> tables, statistics and figures -> index.md + index.html."""

from genrebench.report.build import REPORTS_DIR, build_report, report_name

__all__ = ["REPORTS_DIR", "build_report", "report_name"]
