"""dftag: find every face in a video frame and tag it real or fake.

Layers, bottom to top (each imports only those below it; see docs/architecture.md):
``dftag.core`` → ``dftag.annotations`` (data) → ``dftag.detector`` / ``dftag.sample_data`` → ``dftag.eval`` →
``dftag.pipeline`` (video) → ``dftag.tools`` (the command line).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dftag")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
