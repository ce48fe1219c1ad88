"""What the tests share: paths, real processes, metric values, and builders of test data.

Modules that start processes (``processes``, ``forecaster``) import the demo stack's process
handling; the others import nothing heavier than the library, so unit tests stay light.
"""
