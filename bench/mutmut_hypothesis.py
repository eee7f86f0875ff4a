"""A pytest plugin for bench/mutation.sh: Hypothesis settings for runs under mutmut.

mutmut runs the selected tests twice in one process (once to learn which tests
reach which function, once clean), which Hypothesis's ``differing_executors``
health check takes for a test class called from two executors.  The derandomised
examples make a survivor the same survivor on every run.
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "mutmut",
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.differing_executors],
)
settings.load_profile("mutmut")
