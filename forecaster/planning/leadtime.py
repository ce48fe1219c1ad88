"""Exhaustion against the time it takes to add capacity (procurement, provisioning): the date
by which capacity must be ordered, and how much slack is left."""

from __future__ import annotations

import math


def order_by_timestamp(made_at: float, exhaustion_seconds: float, lead_time: float) -> float:
    """Unix time by which capacity must be ordered to be in place before exhaustion: the
    crossing time minus the lead time. +Inf when no crossing is forecast; in the past when the
    order is already late."""
    if math.isinf(exhaustion_seconds) or math.isnan(exhaustion_seconds):
        return exhaustion_seconds
    return made_at + exhaustion_seconds - lead_time


def lead_time_margin(exhaustion_seconds: float, lead_time: float) -> float:
    """Seconds of slack between the order-by date and now: negative means late already."""
    return exhaustion_seconds - lead_time
