"""Capacity planning on top of a target's forecast: growth scenarios, the date by which capacity
must be ordered given its lead time, and predictive autoscaling (recommended replicas).

Its config sections (``scenarios:``, ``autoscaling:``) are in :mod:`promcast_forecaster.planning_config`,
beside the resolved target that carries them: the config imports nothing of this package.
"""
