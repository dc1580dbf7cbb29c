"""winnow's own version, recorded with everything the lake stores."""

from importlib.metadata import PackageNotFoundError, version

try:
    WINNOW_VERSION = version("winnow")
except PackageNotFoundError:  # running from a source tree that is not installed
    WINNOW_VERSION = "0+unknown"

__version__ = WINNOW_VERSION  # winnow.__version__
