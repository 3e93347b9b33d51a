"""The files portlens reads on a user's word and the files it writes, each through one door.

`read` (regular files only, size and decompression caps, errors that locate without quoting),
`xmlsafe` (XML without DTDs, checked on the parser's events) and `write` (no symlinks, mode 0600,
atomic). Every loader and writer of the package goes through them; README "Security" lists the caps.
"""

from .read import LIMITS, ReadError, limit, read_bytes, read_json, read_text
from .write import atomic, open_stream, write_text

__all__ = ["LIMITS", "ReadError", "limit", "read_bytes", "read_json", "read_text"]
__all__ += ["atomic", "open_stream", "write_text"]
