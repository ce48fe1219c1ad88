"""Capacity planning on top of a target's forecast: growth scenarios, the date by which capacity
must be ordered given its lead time, and predictive autoscaling (recommended replicas).

Kept import-free on purpose: :mod:`promcast_forecaster.config` imports :mod:`promcast_forecaster.planning.config`,
and the modules that use the engine must not be loaded while the config module is.
"""
