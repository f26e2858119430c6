"""Converting and validating batch input files: formats, CSV quirks, sniffing, the record schema."""

from __future__ import annotations

import codecs
import json

import pytest

from batch.records import (
    CSV,
    FIELDS,
    JSON_ARRAY,
    JSON_LINES,
    MAX_ERRORS,
    convert,
    detect_format,
    validate_record,
)

HEADER = "id,date,customerEmail,sku,quantity,unitPrice,currency"
ROW = "T-1,2024-03-01,ann@example.com,WIDGET-1,2,25.00,EUR"
RECORD = {"id": "T-1", "date": "2024-03-01", "customerEmail": "ann@example.com", "sku": "WIDGET-1",
          "description": None, "quantity": 2, "unitPrice": "25.00", "currency": "EUR"}


def lines(conversion) -> list[dict]:
    return [json.loads(line) for line in conversion.to_jsonl().decode("utf-8").splitlines()]


def problems(conversion) -> list[tuple]:
    return [(p.line, p.record, p.field) for p in conversion.problems]


# --- formats ---------------------------------------------------------------------------------


def test_csv_converts_to_normalized_json_lines() -> None:
    conversion = convert("sales.csv", f"{HEADER}\n{ROW}\nT-2,2024-03-02,,cable-1,1,9.99,usd\n".encode())
    assert conversion.valid and conversion.format == CSV and conversion.record_count == 2
    assert lines(conversion) == [RECORD, {"id": "T-2", "date": "2024-03-02", "customerEmail": None, "sku": "CABLE-1",
                                          "description": None, "quantity": 1, "unitPrice": "9.99", "currency": "USD"}]
    body = conversion.to_jsonl()
    assert body.endswith(b"\n") and b"\r" not in body
    assert list(json.loads(body.splitlines()[0])) == list(FIELDS)  # fixed field order


def test_json_array_and_json_lines_give_the_same_output_as_csv() -> None:
    record = {"id": "T-1", "date": "2024-03-01", "customerEmail": "ann@example.com", "sku": "WIDGET-1",
              "quantity": 2, "unitPrice": 25.00, "currency": "EUR"}
    array = convert("sales.json", json.dumps([record], indent=2).encode())
    jsonl = convert("sales.jsonl", (json.dumps(record) + "\n\n").encode())
    csv_file = convert("sales.csv", f"{HEADER}\n{ROW}\n".encode())
    assert array.format == JSON_ARRAY and jsonl.format == JSON_LINES
    assert lines(array)[0]["unitPrice"] == "25.0"  # JSON numbers keep their written precision, exactly
    assert lines(jsonl) == lines(array)
    assert lines(csv_file) == [RECORD]


def test_json_money_is_exact_and_strings_are_accepted() -> None:
    conversion = convert("a.json", b'[{"id": "1", "date": "2024-01-01", "sku": "A", "quantity": 1, '
                                   b'"unitPrice": 0.1, "currency": "JPY"}, {"id": "2", "date": "2024-01-01", '
                                   b'"sku": "A", "quantity": 1, "unitPrice": "19.9900", "currency": "eur"}]')
    assert [r["unitPrice"] for r in lines(conversion)] == ["0.1", "19.9900"]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("file1.txt", f"{HEADER}\n{ROW}\n", CSV),
        ("file2.txt", "  \n[{\"id\": 1}]", JSON_ARRAY),
        ("file3.txt", '{"id": 1}\n{"id": 2}\n', JSON_LINES),
        ("noext", '{"id": 1}', JSON_LINES),
        ("folder.v2/data", f"{HEADER}\n", CSV),
        ("data.json", '{"id": 1}\n{"id": 2}', JSON_LINES),  # NDJSON named .json
        ("data.JSON", '[{"id": 1}]', JSON_ARRAY),
        ("data.csv", '{"looks": "like json"}', CSV),  # the extension wins for CSV
    ],
)
def test_format_detection_by_content_and_extension(name: str, content: str, expected: str) -> None:
    assert detect_format(name, content) == expected


def test_txt_files_are_recognised_by_content() -> None:
    csv_txt = convert("file1.txt", f"{HEADER}\n{ROW}\n".encode())
    array_txt = convert("file2.txt", json.dumps([{**RECORD, "description": "x"}]).encode())
    jsonl_txt = convert("file3.txt", json.dumps(RECORD).encode())
    assert (csv_txt.format, array_txt.format, jsonl_txt.format) == (CSV, JSON_ARRAY, JSON_LINES)
    assert csv_txt.valid and array_txt.valid and jsonl_txt.valid


# --- CSV quirks ------------------------------------------------------------------------------


def test_csv_with_bom_crlf_and_empty_lines() -> None:
    data = codecs.BOM_UTF8 + f"\r\n{HEADER}\r\n\r\n{ROW}\r\n ,  ,,,,,\r\n\r\n".encode()
    conversion = convert("bom.csv", data)
    assert conversion.valid, conversion.problems
    assert lines(conversion) == [RECORD]


def test_csv_quoted_commas_quotes_and_line_breaks_inside_fields() -> None:
    data = (b'id,date,sku,description,quantity,unitPrice,currency\n'
            b'A-1,2024-01-01,CABLE-1,"Cable, USB-C ""2 m""",3,"9.99",EUR\n'
            b'A-2,2024-01-01,CABLE-1,"bad\nbreak",3,9.99,EUR\n'
            b'A-3,2024-01-01,CABLE-1,ok,0,9.99,EUR\n')
    conversion = convert("quoted.csv", data)
    assert not conversion.valid and conversion.record_count == 3
    # the line break is inside a quoted field: the record starts on line 3 and the next one is on line 5
    assert problems(conversion) == [(3, 2, "description"), (5, 3, "quantity")]
    first_only = convert("quoted.csv", data.split(b"A-2")[0])
    assert lines(first_only)[0]["description"] == 'Cable, USB-C "2 m"'


def test_csv_wrong_column_count_names_the_line() -> None:
    data = f"{HEADER}\n{ROW}\nT-2,2024-03-01,,WIDGET-1,2,25.00\nT-3,2024-03-01,,WIDGET-1,2,25.00,EUR,extra\n"
    conversion = convert("cols.csv", data.encode())
    assert [(p.line, p.record) for p in conversion.problems] == [(3, 2), (4, 3)]
    assert "Expected 7 columns" in conversion.problems[0].message and "found 6" in conversion.problems[0].message
    assert conversion.records == []  # an invalid file converts to nothing


def test_csv_header_aliases_and_other_delimiters() -> None:
    data = ("ID;Date;Customer_Email;SKU;Quantity;Unit Price;currency\n"
            "T-1;2024-03-01;ann@example.com;widget-1;2;25.00;eur\n")
    conversion = convert("semicolons.csv", data.encode())
    assert conversion.valid, conversion.problems
    assert lines(conversion) == [RECORD]
    tabs = convert("tabs.tsv", (HEADER.replace(",", "\t") + "\n" + ROW.replace(",", "\t")).encode())
    assert lines(tabs) == [RECORD]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("id,date,sku,quantity,unitPrice", "missing required column currency"),
        ("id,date,sku,quantity,unitPrice,currency,colour", "unknown column 'colour'"),
        ("id,date,sku,quantity,unitPrice,currency,unit_price", "column 'unitPrice' appears twice"),
        ("id,,date,sku,quantity,unitPrice,currency", "a column without a name"),
    ],
)
def test_csv_bad_header_is_one_problem_on_line_1(header: str, message: str) -> None:
    conversion = convert("h.csv", f"{header}\n1,2,3\n".encode())
    assert [(p.line, p.record) for p in conversion.problems] == [(1, None)]
    assert message in conversion.problems[0].message


def test_csv_syntax_errors_and_nul_bytes() -> None:
    unterminated = convert("q.csv", f'{HEADER}\n{ROW}\nT-2,"2024-03-01,,A,1,1,EUR\n'.encode())
    assert unterminated.problems[0].line == 3 and "CSV syntax error" in unterminated.problems[0].message
    nul = convert("nul.csv", f"{HEADER}\n{ROW}\x00\n".encode())
    assert nul.problems[0].line == 2 and "NUL" in nul.problems[0].message


def test_header_only_and_empty_files_are_empty() -> None:
    for data in (b"", b"   \n\r\n", f"{HEADER}\n".encode(), b"[]", b"[ ]\n", codecs.BOM_UTF8):
        conversion = convert("e.txt", data)
        assert conversion.empty and not conversion.valid and conversion.problems == [], data


# --- JSON ------------------------------------------------------------------------------------


def test_json_array_problems_name_the_line_of_each_element() -> None:
    data = ('[\n  {"id": "1", "date": "2024-01-01", "sku": "A", "quantity": 1, "unitPrice": 1, "currency": "EUR"},\n'
            '  {"id": "2", "date": "2024-02-30", "sku": "A", "quantity": 1.5, "unitPrice": -1, "currency": "EUR"},\n'
            '  "not an object"\n]')
    conversion = convert("a.json", data.encode())
    assert problems(conversion) == [(3, 2, "date"), (3, 2, "quantity"), (3, 2, "unitPrice"), (4, 3, None)]
    assert conversion.problems[-1].message == "A record must be a JSON object, got a string."


@pytest.mark.parametrize(
    ("data", "line", "text"),
    [
        ('[{"id": "1"},\n{"id": }]', 2, "Not valid JSON"),
        ('[{"id": "1"}', 1, "not closed"),
        ('[{"id": "1"}] trailing', 1, "Unexpected content"),
        ('[{"id": "1"}\n{"id": "2"}]', 2, "expected ',' or ']'"),
    ],
)
def test_broken_json_arrays(data: str, line: int, text: str) -> None:
    conversion = convert("b.json", data.encode())
    assert conversion.problems[-1].line == line and text in conversion.problems[-1].message


def test_json_lines_reports_each_bad_line_and_keeps_checking() -> None:
    good = json.dumps({k: v for k, v in RECORD.items() if v is not None})
    data = f'{good}\n\n{{"id": "x", broken\n[1, 2]\n{good.replace("T-1", "T-2").replace("EUR", "XXX")}\n'
    conversion = convert("l.jsonl", data.encode())
    assert problems(conversion) == [(3, 2, None), (4, 3, None), (5, 4, "currency")]
    assert conversion.record_count == 4


# --- encodings -------------------------------------------------------------------------------


def test_undecodable_bytes_are_a_problem_with_offset_and_line() -> None:
    conversion = convert("latin1.csv", f"{HEADER}\n".encode() + "T-1,2024-03-01,,CAFÉ,1,1,EUR\n".encode("latin-1"))
    assert not conversion.valid and not conversion.empty and conversion.format is None
    [problem] = conversion.problems
    assert problem.line == 2 and "not valid UTF-8" in problem.message and "0xc9" in problem.message


def test_utf16_with_bom_is_decoded() -> None:
    conversion = convert("excel.txt", codecs.BOM_UTF16_LE + f"{HEADER}\n{ROW}\n".encode("utf-16-le"))
    assert conversion.valid and lines(conversion) == [RECORD]


def test_text_is_nfc_normalized_utf8() -> None:
    decomposed = "Cafe\u0301"  # e + combining acute accent
    conversion = convert("n.jsonl", json.dumps({**RECORD, "description": decomposed}).encode())
    assert lines(conversion)[0]["description"] == "Café"
    assert "Café".encode() in conversion.to_jsonl()


# --- the record schema -----------------------------------------------------------------------


def valid(**changes: object) -> dict:
    record = {"id": "T-1", "date": "2024-03-01", "sku": "WIDGET-1", "quantity": 2, "unitPrice": "25.00",
              "currency": "EUR", **changes}
    return {k: v for k, v in record.items() if v is not ...}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"id": ...}, "id", "id is required."),
        ({"id": "has space"}, "id", "id must be 1-64 letters"),
        ({"id": "x" * 65}, "id", "id must be 1-64 letters"),
        ({"date": "2024-02-30"}, "date", "not a calendar date"),
        ({"date": "01/03/2024"}, "date", "YYYY-MM-DD"),
        ({"date": "1999-12-31"}, "date", "between 2000-01-01"),
        ({"customerEmail": "not-an-email"}, "customerEmail", "e-mail"),
        ({"sku": "WIDGET 1"}, "sku", "letters, digits or '-'"),
        ({"sku": 12}, "sku", "letters, digits or '-'"),
        ({"quantity": 0}, "quantity", "between 1 and 1,000,000, got 0"),
        ({"quantity": -3}, "quantity", "got -3"),
        ({"quantity": "2"}, "quantity", None),  # numeric text is accepted (CSV cells are text)
        ({"quantity": "2.5"}, "quantity", "whole number"),
        ({"quantity": True}, "quantity", "whole number"),
        ({"unitPrice": "-0.01"}, "unitPrice", "at least 0"),
        ({"unitPrice": "1,000.00"}, "unitPrice", "decimal number"),
        ({"unitPrice": "1.23456"}, "unitPrice", "at most 4 decimal places"),
        ({"unitPrice": "NaN"}, "unitPrice", "decimal number"),
        ({"unitPrice": None}, "unitPrice", "unitPrice is required."),
        ({"currency": "EURO"}, "currency", "ISO 4217"),
        ({"currency": "XTS"}, "currency", "ISO 4217"),  # the test code is not a currency
        ({"description": "x" * 201}, "description", "at most 200"),
        ({"description": "tab\there"}, "description", "control characters"),
        ({"colour": "red"}, "colour", "Unknown field 'colour'."),
        ({"unit_price": "1"}, "unitPrice", "given twice"),
    ],
)
def test_record_rules(changes: dict, field: str, message: str | None) -> None:
    record, found = validate_record(valid(**changes), line=7, record=3)
    if message is None:
        assert found == [] and record is not None
        return
    assert record is None
    assert [(p.field, p.line, p.record) for p in found] == [(field, 7, 3)]
    assert message in found[0].message


def test_a_valid_record_is_normalized() -> None:
    record, found = validate_record(valid(sku=" widget-1 ", currency="eur", unitPrice="25.000000",
                                          customerEmail="", quantity="+2", description="  Blue  "))
    assert found == []
    assert record == {"id": "T-1", "date": "2024-03-01", "customerEmail": None, "sku": "WIDGET-1",
                      "description": "Blue", "quantity": 2, "unitPrice": "25", "currency": "EUR"}


def test_duplicate_ids_in_a_file_name_the_first_occurrence() -> None:
    conversion = convert("d.csv", f"{HEADER}\n{ROW}\n{ROW}\n".encode())
    [problem] = conversion.problems
    assert (problem.line, problem.record, problem.field) == (3, 2, "id")
    assert "first in record 1 on line 2" in problem.message


def test_problem_lists_are_capped_but_counted() -> None:
    rows = "\n".join(f"T-{i},2024-03-01,,WIDGET-1,0,1,EUR" for i in range(MAX_ERRORS + 50))
    conversion = convert("many.csv", f"{HEADER}\n{rows}\n".encode())
    assert len(conversion.problems) == MAX_ERRORS and conversion.problem_count == MAX_ERRORS + 50
