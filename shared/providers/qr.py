"""QR codes for tickets: the ticket secret in, a PNG out."""

from __future__ import annotations

import io

import qrcode
from qrcode.constants import ERROR_CORRECT_M


def png(data: str, *, box_size: int = 8, border: int = 4) -> bytes:
    """A scannable PNG of `data` (medium error correction, quiet zone of 4 modules)."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=border)
    code.add_data(data)
    code.make(fit=True)
    out = io.BytesIO()
    code.make_image().save(out, format="PNG")
    return out.getvalue()
