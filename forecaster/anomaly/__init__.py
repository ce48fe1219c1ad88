"""Anomaly detection with a page budget: the detector the service publishes from
(:mod:`.detector`), the replay ``promcast-forecaster anomalies`` runs (:mod:`.replay`) and that
command (:mod:`.cli`); see docs/anomalies.md. Nothing is re-exported here, so importing the
detector does not load the replay."""
