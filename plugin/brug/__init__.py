"""brug: one shared workspace per partnership, on the platforms the partners already use."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("brug")
except PackageNotFoundError:  # running from a checkout without installing
    __version__ = "0.0.0+checkout"
