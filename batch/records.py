"""Reading, converting and validating the batch workflow's input files (no storage here).

A file holds sales records in one of three formats, recognised by extension and content:

| format       | recognised by                                                        |
|--------------|----------------------------------------------------------------------|
| `csv`        | extension `.csv`/`.tsv`; or content that is not JSON. Header row     |
|              | required; delimiter `,` `;` tab or `|`, detected from the header     |
| `json`       | extension `.json`/`.jsonl`/`.ndjson`, or content, starting with `[`: |
|              | one JSON array of objects                                            |
| `jsonl`      | the same extensions or content starting with `{`: one JSON object    |
|              | per line (JSON Lines)                                                |

Any other extension (the original example names `.txt` files) is decided by content alone.
Text is UTF-8 (a BOM is dropped) or UTF-16 with a BOM; anything else is undecodable.

The record schema `sales-record/1` (`SCHEMA`); field names are matched without regard to
case, `_`, `-` or spaces, so a CSV header `unit_price` or `Unit Price` means `unitPrice`:

| field           | required | type and rules                                                         |
|-----------------|----------|------------------------------------------------------------------------|
| `id`            | yes      | string, 1-64 of `A-Z a-z 0-9 . _ : -`; unique within the file           |
| `date`          | yes      | calendar date `YYYY-MM-DD`, from 2000-01-01 to 2099-12-31               |
| `customerEmail` | no       | e-mail address (`local@domain.tld`, at most 254 characters) or empty    |
| `sku`           | yes      | 1-32 of `A-Z 0-9 -`, starting with a letter or digit (upper-cased)      |
| `description`   | no       | text, at most 200 characters, no control characters                     |
| `quantity`      | yes      | integer, 1 to 1,000,000 (JSON: a number without fraction; CSV: digits) |
| `unitPrice`     | yes      | decimal >= 0 and < 1,000,000,000, at most 4 decimal places              |
|                 |          | (JSON: a number or a numeric string)                                    |
| `currency`      | yes      | an active ISO 4217 currency code, 3 letters (upper-cased)               |

No other fields are allowed. A file is valid when it parses and every record is valid;
then it converts to normalized JSON Lines: UTF-8, `\\n` line ends, one object per record
with the eight fields in the order above, strings trimmed and NFC-normalized,
`customerEmail` and `description` null when absent, `unitPrice` a decimal string (exact, no exponent).
A file that has no records is `empty`. Otherwise every problem is listed with its line
number, the record's position and the field (`FileProblem`).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from common.validation import is_email

SCHEMA = "sales-record/1"
FIELDS = ("id", "date", "customerEmail", "sku", "description", "quantity", "unitPrice", "currency")
REQUIRED = frozenset(FIELDS) - {"customerEmail", "description"}
MAX_ERRORS = 1000  # problems listed per file; the count goes on beyond that

CSV, JSON_ARRAY, JSON_LINES = "csv", "json", "jsonl"
_CSV_EXTENSIONS = {".csv", ".tsv"}
_JSON_EXTENSIONS = {".json", ".jsonl", ".ndjson"}
_DELIMITERS = (",", ";", "\t", "|")

# Active ISO 4217 codes of currencies (funds, precious metals, SDR and test codes excluded).
_CURRENCY_CODES = """
AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF
CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL
HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD
MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG
QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD
TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
"""
CURRENCIES = frozenset(_CURRENCY_CODES.split())

_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SKU = re.compile(r"[A-Z0-9][A-Z0-9-]{0,31}")
_INTEGER = re.compile(r"[+]?\d+")
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_MIN_DATE, _MAX_DATE = date(2000, 1, 1), date(2099, 12, 31)
_MAX_QUANTITY = 1_000_000
_MAX_PRICE = Decimal(1_000_000_000)


def _key(name: str) -> str:
    return re.sub(r"[\s_-]", "", name).lower()


_ALIASES = {_key(name): name for name in FIELDS}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file: where (line, 1-based record position, field) and what."""

    message: str
    line: int | None = None
    record: int | None = None
    field: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "record": self.record, "field": self.field, "message": self.message}


class FileProblem(Exception):
    """The file as a whole cannot be read (undecodable, unparsable, bad header)."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.problem = Problem(message, line=line)


@dataclass
class Conversion:
    """The outcome of converting one file: valid records, or the problems found."""

    format: str | None
    records: list[dict[str, Any]] = field(default_factory=list)
    record_count: int = 0  # data records seen (valid or not)
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0

    @property
    def valid(self) -> bool:
        return self.problem_count == 0 and self.record_count > 0

    @property
    def empty(self) -> bool:
        return self.problem_count == 0 and self.record_count == 0

    def add(self, problem: Problem) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_ERRORS:
            self.problems.append(problem)

    def to_jsonl(self) -> bytes:
        """The valid records as normalized JSON Lines (UTF-8)."""
        lines = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) for record in self.records)
        return "".join(line + "\n" for line in lines).encode("utf-8")


# --- decoding and format detection -----------------------------------------------------------


def decode(data: bytes) -> str:
    """The file's text: UTF-8 (BOM dropped) or UTF-16 with a BOM; FileProblem otherwise."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                          (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            body, label = data[len(bom):], encoding.upper()
            break
    else:
        body, label = data, "UTF-8"
        encoding = "utf-8"
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as error:
        line = body[: error.start].count(b"\n") + 1 if encoding == "utf-8" else None
        raise FileProblem(
            f"The file is not valid {label} text: byte 0x{body[error.start]:02x} at offset {error.start} "
            "cannot be decoded.", line=line) from None


def detect_format(name: str, text: str) -> str:
    """`csv`, `json` or `jsonl`: from the extension when it says, from the content otherwise."""
    extension = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name.rsplit("/", 1)[-1] else ""
    if extension in _CSV_EXTENSIONS:
        return CSV
    first = text.lstrip()[:1]
    if first == "[":
        return JSON_ARRAY
    if first == "{":
        return JSON_LINES
    return JSON_LINES if extension in _JSON_EXTENSIONS else CSV


# --- conversion ------------------------------------------------------------------------------


def convert(name: str, data: bytes) -> Conversion:
    """Decode, parse and validate one file's bytes; never raises for bad content."""
    try:
        text = decode(data)
    except FileProblem as error:
        conversion = Conversion(format=None)
        conversion.add(error.problem)
        return conversion
    file_format = detect_format(name, text)
    conversion = Conversion(format=file_format)
    if not text.strip():
        return conversion
    seen_ids: dict[str, tuple[int, int]] = {}
    parse = {CSV: _csv_rows, JSON_ARRAY: _json_array_rows, JSON_LINES: _json_lines_rows}[file_format]
    try:
        for line, raw in parse(text, conversion):
            conversion.record_count += 1
            position = conversion.record_count
            record, problems = validate_record(raw, line=line, record=position)
            if record is not None:
                first_record, first_line = seen_ids.setdefault(record["id"], (position, line))
                if first_record != position:
                    problems.append(Problem(
                        f"Duplicate id {record['id']!r} (first in record {first_record} on line {first_line}).",
                        line, position, "id"))
            for problem in problems:
                conversion.add(problem)
            if record is not None and not problems:
                conversion.records.append(record)
    except FileProblem as error:
        conversion.add(error.problem)
    if conversion.problem_count:
        conversion.records = []
    return conversion


def _csv_rows(text: str, conversion: Conversion) -> Iterator[tuple[int, dict[str, Any]]]:
    if "\x00" in text:
        raise FileProblem("The file contains NUL characters; it is not text.",
                          line=text[: text.index("\x00")].count("\n") + 1)
    delimiter = _csv_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    header_line = 0
    previous = 0
    while True:
        start = previous + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise FileProblem(f"CSV syntax error: {error}.", line=start) from None
        previous = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue  # blank lines (and rows of empty cells) are not records
        if header is None:
            header, header_line = _csv_header(row, start), start
            continue
        if len(row) != len(header):
            conversion.record_count += 1
            conversion.add(Problem(f"Expected {len(header)} columns (as in the header on line {header_line}), "
                                   f"found {len(row)}.", start, conversion.record_count))
            continue
        yield start, {name: cell for name, cell in zip(header, row, strict=True)}
    # header-only files yield nothing: empty


def _csv_delimiter(text: str) -> str:
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    counts = {candidate: first_line.count(candidate) for candidate in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda candidate: counts[candidate])  # ties go to the earlier (comma)
    return best if counts[best] else ","


def _csv_header(row: list[str], line: int) -> list[str]:
    names = [cell.strip() for cell in row]
    problems = []
    canonical = []
    for name in names:
        known = _ALIASES.get(_key(name))
        if known is None:
            problems.append(f"unknown column {name!r}" if name else "a column without a name")
        elif known in canonical:
            problems.append(f"column {known!r} appears twice")
        canonical.append(known or name)
    missing = [name for name in FIELDS if name in REQUIRED and name not in canonical]
    if missing:
        problems.append("missing required column" + ("s " if len(missing) > 1 else " ") + ", ".join(missing))
    if problems:
        allowed = ", ".join(FIELDS)
        raise FileProblem(f"Bad header row: {'; '.join(problems)} (columns: {allowed}).", line=line)
    return canonical


def _json_array_rows(text: str, conversion: Conversion) -> Iterator[tuple[int, Any]]:
    newlines = [i for i, ch in enumerate(text) if ch == "\n"]

    def line_of(offset: int) -> int:
        return bisect_right(newlines, offset - 1) + 1

    decoder = json.JSONDecoder(parse_float=Decimal)
    position = _skip_ws(text, 0)
    if text[position] != "[":
        raise FileProblem("Expected a JSON array of records.", line=line_of(position))
    position = _skip_ws(text, position + 1)
    if position < len(text) and text[position] == "]":
        _expect_end(text, position + 1, line_of)
        return
    while True:
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise FileProblem(f"Not valid JSON: {error.msg} (column {error.colno}).", line=error.lineno) from None
        yield line_of(position), value
        position = _skip_ws(text, end)
        if position >= len(text):
            raise FileProblem("The JSON array is not closed (missing ']').", line=line_of(len(text)))
        if text[position] == "]":
            _expect_end(text, position + 1, line_of)
            return
        if text[position] != ",":
            raise FileProblem(f"Not valid JSON: expected ',' or ']' but found {text[position]!r}.",
                              line=line_of(position))
        position = _skip_ws(text, position + 1)
        if position >= len(text):
            raise FileProblem("The JSON array is not closed (missing ']').", line=line_of(len(text)))


def _skip_ws(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _expect_end(text: str, position: int, line_of: Any) -> None:
    position = _skip_ws(text, position)
    if position < len(text):
        raise FileProblem("Unexpected content after the JSON array.", line=line_of(position))


def _json_lines_rows(text: str, conversion: Conversion) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line, parse_float=Decimal)
        except json.JSONDecodeError as error:
            conversion.record_count += 1
            conversion.add(Problem(f"Not valid JSON: {error.msg} (column {error.colno}).", number,
                                   conversion.record_count))
            continue
        yield number, value


# --- validation ------------------------------------------------------------------------------


def validate_record(raw: Any, *, line: int | None = None, record: int | None = None
                    ) -> tuple[dict[str, Any] | None, list[Problem]]:
    """One record checked against `sales-record/1`: (normalized record or None, problems)."""
    if not isinstance(raw, dict):
        return None, [Problem(f"A record must be a JSON object, got {_json_type(raw)}.", line, record)]
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    for name, value in raw.items():
        known = _ALIASES.get(_key(str(name)))
        if known is None:
            problems.append(Problem(f"Unknown field {name!r}.", line, record, str(name)))
        elif known in values:
            problems.append(Problem(f"Field {known!r} is given twice.", line, record, known))
        else:
            values[known] = value
    normalized: dict[str, Any] = {}
    for name in FIELDS:
        value = values.get(name)
        if isinstance(value, str):
            value = unicodedata.normalize("NFC", value.strip())
        if value is None or value == "":
            if name in REQUIRED:
                problems.append(Problem(f"{name} is required.", line, record, name))
            else:
                normalized[name] = None
            continue
        try:
            normalized[name] = _CHECKS[name](value)
        except ValueError as error:
            problems.append(Problem(f"{name} {error}", line, record, name))
    return (None if problems else normalized), problems


def _check_id(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"must be a string, got {_json_type(value)}.")
    text = str(value)
    if not _ID.fullmatch(text):
        raise ValueError(f"must be 1-64 letters, digits, '.', '_', ':' or '-', got {text!r}.")
    return text


def _check_date(value: Any) -> str:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ValueError(f"must be a date YYYY-MM-DD, got {_shown(value)}.")
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"is not a calendar date: {value!r}.") from None
    if not _MIN_DATE <= parsed <= _MAX_DATE:
        raise ValueError(f"must be between {_MIN_DATE} and {_MAX_DATE}, got {value}.")
    return value


def _check_email(value: Any) -> str:
    if not isinstance(value, str) or not is_email(value):
        raise ValueError(f"must be an e-mail address, got {_shown(value)}.")
    return value


def _check_sku(value: Any) -> str:
    text = value.upper() if isinstance(value, str) else None
    if text is None or not _SKU.fullmatch(text):
        raise ValueError(f"must be 1-32 letters, digits or '-', got {_shown(value)}.")
    return text


def _check_description(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {_json_type(value)}.")
    if len(value) > 200:
        raise ValueError(f"must be at most 200 characters, got {len(value)}.")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ValueError("must not contain control characters (tabs, line breaks...).")
    return value


def _check_quantity(value: Any) -> int:
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise ValueError(f"must be a whole number greater than 0, got {_shown(value)}.")
    if not 1 <= number <= _MAX_QUANTITY:
        raise ValueError(f"must be between 1 and {_MAX_QUANTITY:,}, got {number}.")
    return number


def _check_price(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError(f"must be a decimal number, got {_json_type(value)}.")
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        raise ValueError(f"must be a decimal number, got {_shown(value)}.")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"must be a decimal number, got {_shown(value)}.") from None
    if not number.is_finite() or number < 0 or number >= _MAX_PRICE:
        raise ValueError(f"must be at least 0 and below {_MAX_PRICE:,}, got {value}.")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -4:
        normalized = number.normalize()
        if normalized.as_tuple().exponent < -4:  # type: ignore[operator]
            raise ValueError(f"must have at most 4 decimal places, got {value}.")
        number = normalized
    return format(abs(number) if number == 0 else number, "f")


def _check_currency(value: Any) -> str:
    code = value.upper() if isinstance(value, str) else None
    if code is None or code not in CURRENCIES:
        raise ValueError(f"must be an ISO 4217 currency code such as EUR or USD, got {_shown(value)}.")
    return code


_CHECKS = {"id": _check_id, "date": _check_date, "customerEmail": _check_email, "sku": _check_sku,
           "description": _check_description, "quantity": _check_quantity, "unitPrice": _check_price,
           "currency": _check_currency}


def _shown(value: Any) -> str:
    """A value as the user wrote it: strings quoted, numbers plain."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | Decimal | float):
        return str(value)
    return _json_type(value)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | Decimal | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
