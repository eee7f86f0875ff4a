"""Imported by the worker pool's forkserver only (``set_forkserver_preload``): it dies
with the daemon that started it, and so, in turn, do the workers it forks."""

from watcher.workers import die_with_parent

die_with_parent()
