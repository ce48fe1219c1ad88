"""Anomaly detection with a page budget: the detector the service publishes from, and the
replay ``promcast-forecaster anomalies`` runs (see docs/anomalies.md)."""

from promcast_forecaster.anomaly.detector import (
    BUDGET_PERIOD, Detection, DetectorSettings, Direction, alert_points, detect, episodes,
    for_points, tail_quantile,
)
from promcast_forecaster.anomaly.replay import ReplaySettings, Scored, replay

__all__ = [
    "BUDGET_PERIOD", "Detection", "DetectorSettings", "Direction", "ReplaySettings", "Scored",
    "alert_points", "detect", "episodes", "for_points", "replay", "tail_quantile",
]
