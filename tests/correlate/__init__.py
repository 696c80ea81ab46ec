"""Correlation: metrics, reports, the verdict, calibration."""
