"""The release version, read from the installed package metadata."""

from functools import cache
from importlib.metadata import PackageNotFoundError, version


@cache  # read once per process: every page footer shows it, and a new release means new processes
def release_version() -> str:
    try:
        return version("govhall")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"
