"""Imported by the worker pool's forkserver only (``set_forkserver_preload``): it dies
with the daemon that started it, and so, in turn, do the workers it forks."""

import os

from watcher.workers import POOL_PARENT_ENV, die_with_parent

# Workers are forked from this process and inherit this module: the parent they must have.
PID = os.getpid()

die_with_parent(int(os.environ.get(POOL_PARENT_ENV) or os.getppid()))
