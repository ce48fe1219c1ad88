"""The ``openstack`` provider: hypervisor capacity and project quotas of OpenStack clouds.

Capacity comes from the Placement API (what the scheduler enforces: ``(total - reserved) *
allocation_ratio``) or, on clouds without Placement in their catalog, from Nova's os-hypervisors
fields that microversion 2.88 removed. Project usage comes from Nova's quota sets. Every cloud and
region of clouds.yaml is refreshed on its own, so one failing region never hides the others.
"""
