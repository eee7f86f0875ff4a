"""watcher: a news-monitoring daemon (poll, dedupe, match, notify)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("watcher")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
