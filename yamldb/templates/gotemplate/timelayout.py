"""Go's time.Time.Format: layouts written with the reference time Mon Jan 2 15:04:05 MST 2006."""

from __future__ import annotations

import functools
from datetime import datetime, timezone
from typing import Final

__all__ = ["go_time_format"]

_MONTHS: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Layout tokens in the order Go's time.nextStdChunk tries them at each character.
_TZ_TOKENS: Final = ("070000", "07:00:00", "0700", "07:00", "07")


def _layout_chunks(layout: str) -> tuple[str | tuple[str, int], ...]:
    """Split a Go time layout into literal strings and (token, arg) pairs."""
    chunks: list[str | tuple[str, int]] = []
    lit_start = 0
    i = 0
    n = len(layout)

    def starts(s: str) -> bool:
        return layout.startswith(s, i)

    while i < n:
        c = layout[i]
        tok: str | None = None
        size = 0
        arg = 0
        if c == "J" and starts("Jan"):
            if starts("January"):
                tok, size = "January", 7
            elif not (i + 3 < n and "a" <= layout[i + 3] <= "z"):
                tok, size = "Jan", 3
        elif c == "M":
            if starts("Monday"):
                tok, size = "Monday", 6
            elif starts("Mon") and not (i + 3 < n and "a" <= layout[i + 3] <= "z"):
                tok, size = "Mon", 3
            elif starts("MST"):
                tok, size = "MST", 3
        elif c == "0":
            if i + 1 < n and "1" <= layout[i + 1] <= "6":
                tok, size = layout[i : i + 2], 2
            elif starts("002"):
                tok, size = "002", 3
        elif c == "1":
            tok, size = ("15", 2) if starts("15") else ("1", 1)
        elif c == "2":
            tok, size = ("2006", 4) if starts("2006") else ("2", 1)
        elif c == "_":
            if starts("_2") and not starts("_2006"):  # "_2006" is "_" then a year
                tok, size = "_2", 2
            elif starts("__2"):
                tok, size = "__2", 3
        elif c in "345":
            tok, size = c, 1
        elif c == "P" and starts("PM"):
            tok, size = "PM", 2
        elif c == "p" and starts("pm"):
            tok, size = "pm", 2
        elif c in "-Z":
            for t in _TZ_TOKENS:
                if layout.startswith(t, i + 1):
                    tok, size = c + t, len(t) + 1
                    break
        elif c in ".," and i + 1 < n and layout[i + 1] in "09":
            ch = layout[i + 1]
            j = i + 1
            while j < n and layout[j] == ch:
                j += 1
            if not (j < n and "0" <= layout[j] <= "9"):
                tok, size, arg = ("frac0" if ch == "0" else "frac9") + c, j - i, j - i - 1
        if tok is None:
            i += 1
            continue
        if i > lit_start:
            chunks.append(layout[lit_start:i])
        chunks.append((tok, arg))
        i += size
        lit_start = i
    if lit_start < n:
        chunks.append(layout[lit_start:])
    return tuple(chunks)


# Layouts are nearly always literals of a few characters; a computed one may be huge, and is not kept.
_cached_layout_chunks = functools.lru_cache(maxsize=128)(_layout_chunks)
_CACHED_LAYOUT_SIZE: Final = 256


def _format_offset(tok: str, offset: int) -> str:
    if tok[0] == "Z" and offset == 0:
        return "Z"
    sign = "-" if offset < 0 else "+"
    offset = abs(offset)
    hh, mm, ss = offset // 3600, offset // 60 % 60, offset % 60
    colon = ":" in tok
    out = f"{sign}{hh:02d}"
    if tok[1:] != "07":
        out += (":" if colon else "") + f"{mm:02d}"
    if tok.endswith(("0000", ":00:00")):
        out += (":" if colon else "") + f"{ss:02d}"
    return out


def go_time_format(dt: datetime, layout: str) -> str:
    """time.Time.Format with a Go reference-time layout."""
    out: list[str] = []
    offset_td = dt.utcoffset()
    offset = int(offset_td.total_seconds()) if offset_td is not None else 0
    chunks = _cached_layout_chunks(layout) if len(layout) <= _CACHED_LAYOUT_SIZE else _layout_chunks(layout)
    for chunk in chunks:
        if isinstance(chunk, str):
            out.append(chunk)
            continue
        tok, arg = chunk
        if tok == "2006":
            out.append(f"{dt.year:04d}")
        elif tok == "06":
            out.append(f"{dt.year % 100:02d}")
        elif tok == "January":
            out.append(_MONTHS[dt.month - 1])
        elif tok == "Jan":
            out.append(_MONTHS[dt.month - 1][:3])
        elif tok == "1":
            out.append(str(dt.month))
        elif tok == "01":
            out.append(f"{dt.month:02d}")
        elif tok == "Monday":
            out.append(_DAYS[dt.weekday()])
        elif tok == "Mon":
            out.append(_DAYS[dt.weekday()][:3])
        elif tok == "2":
            out.append(str(dt.day))
        elif tok == "_2":
            out.append(f"{dt.day:2d}")
        elif tok == "02":
            out.append(f"{dt.day:02d}")
        elif tok == "__2":
            out.append(f"{dt.timetuple().tm_yday:3d}")
        elif tok == "002":
            out.append(f"{dt.timetuple().tm_yday:03d}")
        elif tok == "15":
            out.append(f"{dt.hour:02d}")
        elif tok == "3" or tok == "03":
            h12 = dt.hour % 12 or 12
            out.append(str(h12) if tok == "3" else f"{h12:02d}")
        elif tok == "4":
            out.append(str(dt.minute))
        elif tok == "04":
            out.append(f"{dt.minute:02d}")
        elif tok == "5":
            out.append(str(dt.second))
        elif tok == "05":
            out.append(f"{dt.second:02d}")
        elif tok == "PM":
            out.append("PM" if dt.hour >= 12 else "AM")
        elif tok == "pm":
            out.append("pm" if dt.hour >= 12 else "am")
        elif tok == "MST":
            name = dt.tzname() or ""
            # datetime.timezone(offset) names itself "UTC+01:00"; Go prints an
            # unnamed fixed zone as "+0100".
            if isinstance(dt.tzinfo, timezone) and name.startswith("UTC") and name != "UTC":
                name = ""
            out.append(name or _format_offset("-0700", offset))
        elif tok[0] in "-Z":
            out.append(_format_offset(tok, offset))
        else:  # fractional seconds: frac0. / frac9. with arg digits
            nanos = f"{dt.microsecond * 1000:09d}"[: min(arg, 9)]
            if tok.startswith("frac9"):
                nanos = nanos.rstrip("0")
                if nanos:
                    out.append(tok[-1] + nanos)
            else:
                out.append(tok[-1] + nanos)
    return "".join(out)
