"""Numeric CSV text: strict parsing with errors that name the line, the column and the fix.

A CSV holds rows of comma-separated numbers. The first row is a header only when none of its
cells is a number, so a first data row with a missing value is reported, never dropped.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from manifold_cae.data.validation import FLOAT32_MAX, NUMBER_TEXT
from manifold_cae.errors import DataError

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
INF = re.compile(r"[+-]?inf(inity)?", re.I)
OTHER_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "bars"}
CELL_SHOWN = 24  # longest cell quoted whole in a message


def read_csv(path: Path, raw: bytes) -> np.ndarray:
    """X of shape (n_rows, n_columns), float64, from the bytes ``raw`` of the file ``path``."""
    rows = [(n, line) for n, line in enumerate(_decode(path, raw).splitlines(), 1) if line.strip()]
    if not rows:
        what = "only a UTF-8 byte-order mark" if raw.strip() == UTF8_BOM else "only blank lines"
        raise DataError(f"{path} holds {what}, no data; write rows of comma-separated numbers")
    _check_delimiter(path, *rows[0])
    header = None
    cells = rows[0][1].split(",")
    if not any(NUMBER_TEXT.fullmatch(c.strip()) for c in cells) and any(c.strip() for c in cells):
        header, rows = rows[0], rows[1:]
    if not rows:
        raise DataError(
            f"{path}: no data rows, only the header {_shown(header[1])} on line {header[0]}; "
            "add rows of comma-separated numbers below it"
        )
    try:
        X = np.loadtxt([line for _, line in rows], delimiter=",", ndmin=2, comments=None)
    except ValueError as e:
        _locate_bad_cell(path, rows)  # raises with the line and column when it can
        raise DataError(f"{path}: cannot parse as numeric CSV ({e})") from e
    if header is not None and len(header[1].split(",")) != X.shape[1]:
        raise DataError(
            f"{path}: the header on line {header[0]} names {len(header[1].split(','))} columns "
            f"but the rows hold {X.shape[1]} values; make them agree"
        )
    _check_values(path, X, rows)
    return X


def _decode(path: Path, raw: bytes) -> str:
    if raw.startswith(UTF16_BOMS):
        raise DataError(f"{path} is UTF-16 text; save it as UTF-8 (plain ASCII numbers)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(
            f"{path}, line {line}: byte 0x{raw[e.start]:02x} is not UTF-8; this is not a text "
            "CSV, or it uses another encoding: save it as UTF-8 (plain ASCII numbers)"
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise DataError(f"{path}, line {line}: NUL bytes; this is a binary file, not a text CSV")
    return text


def _check_delimiter(path: Path, lineno: int, line: str) -> None:
    """A first row without commas but with another separator: say the file uses that one."""
    if "," in line:
        return
    for sep, name in OTHER_DELIMITERS.items():
        if sep in line:
            raise DataError(
                f"{path}, line {lineno}: values are separated by {name}, not commas; "
                "save it with commas (e.g. np.savetxt(path, X, delimiter=','))"
            )


def _locate_bad_cell(path: Path, rows: list[tuple[int, str]]) -> None:
    """Raise for the first row of another width or the first cell that is not a number."""
    width, first = len(rows[0][1].split(",")), rows[0][0]
    for lineno, line in rows:
        cells = line.split(",")
        if len(cells) != width:
            other = [name for sep, name in OTHER_DELIMITERS.items() if sep in line]
            hint = f" (it contains {other[0]}: separate values by commas only)" if other else ""
            raise DataError(
                f"{path}, line {lineno}: {len(cells)} values but line {first} has {width}; "
                f"every row needs the same number of columns{hint}"
            )
        for j, cell in enumerate(cells, 1):
            if not NUMBER_TEXT.fullmatch(cell.strip()):
                raise DataError(f"{path}, line {lineno}, column {j}: {_why(cell, j, width)}")


def _why(cell: str, column: int, width: int) -> str:
    """Why ``cell`` is not a number, and the fix."""
    text = cell.strip()
    if not text and column == width:
        return (
            "empty where a number belongs: the line ends with a comma; remove trailing "
            "commas (or fill in the missing value)"
        )
    if not text:
        return "empty where a number belongs (a missing value); fill it in or drop the row"
    if text[0] in "\"'":
        return f"{_shown(text)} is quoted; write plain numbers without quotes"
    if text.upper() in ("NA", "N/A", "NULL", "NONE", "?", "-"):
        return f"{_shown(text)} is a missing value; fill it in or drop the row"
    return f"cannot parse {_shown(text)} as a number; every cell must be numeric"


def _check_values(path: Path, X: np.ndarray, rows: list[tuple[int, str]]) -> None:
    """Values too large for float32 (``1e39``, ``1e400``), named by line and column.

    X: (n, d). NaN and a literal ``inf`` are left to :func:`validate`, which counts them.
    """
    with np.errstate(invalid="ignore"):
        big = np.abs(X) > FLOAT32_MAX  # NaN compares False
    for i, j in np.argwhere(big):
        lineno, line = rows[i]
        cell = line.split(",")[j].strip()
        if not INF.fullmatch(cell):
            raise DataError(
                f"{path}, line {lineno}, column {j + 1}: {_shown(cell)} is beyond float32's "
                f"range (|x| <= {FLOAT32_MAX:.3g}); rescale the column "
                f"(values this large or infinite: {int(big.sum())})"
            )


def _shown(cell: str) -> str:
    return repr(cell if len(cell) <= CELL_SHOWN else cell[:CELL_SHOWN] + "...")
