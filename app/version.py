"""The release version, read from the installed package metadata."""

from importlib.metadata import PackageNotFoundError, version


def release_version() -> str:
    try:
        return version("govhall")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"
