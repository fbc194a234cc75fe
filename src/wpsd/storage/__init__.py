"""Where outputs are kept and the URLs they are served from."""

from .filesystem import FileStorage as FileStorage
