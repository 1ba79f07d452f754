"""The text of a request file, whatever a Windows editor saved it as.

Notepad and PowerShell write UTF-8 with a BOM or UTF-16 (`Out-File` before PowerShell 7, "Unicode" in
Notepad's Save As) with a BOM; JSON itself is UTF-8 (RFC 8259), so those BOMs are the only other encodings
recognised. Anything else is refused with the encoding expected, never guessed.
"""

from __future__ import annotations

import codecs

_BOMS = ((codecs.BOM_UTF8, "utf-8-sig", "UTF-8 with BOM"), (codecs.BOM_UTF16_LE, "utf-16", "UTF-16 LE"),
         (codecs.BOM_UTF16_BE, "utf-16", "UTF-16 BE"))
EXPECTED = "UTF-8 (with or without a BOM), or UTF-16 with a BOM"


class RequestTextError(ValueError):
    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}; save it as {EXPECTED}")
        self.source = source
        self.problem = problem


def request_text(data: bytes, source: str) -> str:
    """Decode `data` (the bytes of `source`, named in the error)."""
    # UTF-32 LE starts with the UTF-16 LE BOM: refuse it by name rather than decode it as UTF-16 garbage.
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise RequestTextError(source, "the file is UTF-32, which is not supported")
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError as exc:
                raise RequestTextError(source, f"starts with a {name} byte order mark but byte {exc.start} "
                                               "is not valid in that encoding") from None
    if len(data) >= 2 and (data[0] == 0 or data[1] == 0):
        raise RequestTextError(source, "looks like UTF-16 without a byte order mark")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestTextError(source, f"is not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} "
                                       "(perhaps Windows-1252 / Latin-1)") from None
