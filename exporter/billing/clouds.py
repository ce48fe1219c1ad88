"""One vocabulary for the ``provider`` label: billing files name clouds as their vendor does
(FOCUS ``ProviderName`` "AWS", "Microsoft", "Google Cloud", "Oracle"; CUR is always AWS), the API
providers as ``aws``, ``azure``, ``gcp``, ``oci``. File spend is labelled with the API names, so
one ``match: {provider: aws}`` selects a cloud whichever way its data arrives.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Lower-cased vendor spellings -> label value. FOCUS leaves ProviderName free text; these are
# the names the clouds' own FOCUS exports and the FOCUS sample data use.
CLOUDS: dict[str, str] = {
    "aws": "aws",
    "amazon web services": "aws",
    "amazon": "aws",
    "microsoft": "azure",
    "azure": "azure",
    "microsoft azure": "azure",
    "google cloud": "gcp",
    "google": "gcp",
    "gcp": "gcp",
    "google cloud platform": "gcp",
    "oracle": "oci",
    "oci": "oci",
    "oracle cloud infrastructure": "oci",
    "oracle cloud": "oci",
    "alibaba cloud": "alibaba",
    "alibaba": "alibaba",
    "ibm": "ibm",
    "ibm cloud": "ibm",
}
# AWS's cost types (Cost Explorer metrics, CUR cost columns) -> the ``cost_type`` label, as
# FOCUS names them: what was billed, the effective cost with commitments amortised, the net.
AWS_COST_TYPES: dict[str, str] = {"unblended": "billed", "amortized": "effective", "net": "net"}
_OTHER = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=4096)
def cloud_label(name: str) -> str:
    """The ``provider`` label of a cloud as a billing file names it: a known cloud by its API
    provider's name, any other lower-cased with runs of other characters as ``_``
    ("Snowflake Inc." -> ``snowflake_inc``); empty stays empty."""
    key = " ".join(name.split()).lower()
    return CLOUDS.get(key) or _OTHER.sub("_", key).strip("_")
