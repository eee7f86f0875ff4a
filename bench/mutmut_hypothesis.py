"""A pytest plugin for bench/mutation.sh: Hypothesis settings for runs under mutmut.

mutmut runs the selected tests twice in one process (once to learn which tests
reach which function, once clean), which Hypothesis's ``differing_executors``
health check takes for a test class called from two executors.  The derandomised
examples make a survivor the same survivor on every run.  Shrinking is off: a
mutant is killed by the first failing example, and shrinking it (minutes for
cluster's window-sized examples) only says why.

mutmut's trampoline adds frames to every call, so a rule nested 100 levels deep
(which the parser must still accept) passes Python's default recursion limit of
1000 under it; the limit is raised for the mutation runs only.
"""

import sys

from hypothesis import HealthCheck, Phase, settings

sys.setrecursionlimit(10_000)

settings.register_profile(
    "mutmut",
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.differing_executors],
)
settings.load_profile("mutmut")
