"""api layer of parindex: HTTP routes and the `parindex` command line."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("parindex")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+source"
