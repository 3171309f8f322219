"""Reading member CSVs as merchants' spreadsheets save them: encodings, headers, cells."""
import pytest

from mcrm.core.errors import ValidationError
from mcrm.members.csv_io import (detect_delimiter, detect_encoding, guess_mapping, inspect_upload, parse_row,
                                 read_rows)

HEADERS = ["手机号", "姓名", "性别", "生日", "标签", "积分", "备注"]
MAPPING = {"0": "msisdn", "1": "name", "2": "gender", "3": "birthday", "4": "tags", "5": "points", "6": "custom"}


@pytest.mark.parametrize("data, encoding", [
    ("手机号,姓名\n".encode("utf-8-sig"), "utf-8-sig"),
    ("手机号,姓名\n".encode(), "utf-8"),
    ("手机号,姓名\n".encode("gbk"), "gb18030"),
    ("手机号,姓名\n".encode("gb18030"), "gb18030"),
    ("手机号\t姓名\n".encode("utf-16"), "utf-16"),
    (b"mobile,name\n", "utf-8"),
])
def test_encoding_is_detected(data, encoding):
    assert detect_encoding(data) == encoding
    assert data.decode(encoding).startswith(("手机号", "mobile"))


def test_a_file_in_no_known_encoding_is_refused():
    with pytest.raises(ValidationError, match="GBK"):
        detect_encoding(b"\x81\x30\xff\xff\x00")


@pytest.mark.parametrize("header_line, delimiter", [("a,b,c", ","), ("a\tb\tc", "\t"), ("a;b;c", ";"), ("a", ",")])
def test_delimiter_is_read_from_the_header(header_line, delimiter):
    assert detect_delimiter(header_line + "\n1,2,3") == delimiter


def test_chinese_and_english_headers_are_mapped():
    assert guess_mapping(HEADERS) == MAPPING | {"6": "ignore"}
    assert guess_mapping(["Mobile", "Full Name", "Date of birth", "Points", "Opted out"]) == {
        "0": "msisdn", "1": "name", "2": "birthday", "3": "points", "4": "opted_out"}
    # marks such as (必填) or * are ignored, and a longer Chinese header still reads as its field
    assert guess_mapping(["会员手机号码(必填)", "*姓名", "备注"]) == {"0": "msisdn", "1": "name", "2": "ignore"}
    # an exact header wins over one that only contains a field's name
    assert guess_mapping(["会员手机号码", "电话"]) == {"0": "ignore", "1": "msisdn"}


def test_line_numbers_follow_the_file_even_with_a_cell_spanning_lines():
    text = 'mobile,name\n13800138000,"two\nlines"\n13800138001,b\n'
    assert [line for line, _cells in read_rows(text, ",")] == [2, 4]


def test_inspect_counts_data_lines():
    upload = inspect_upload("手机号,姓名\n13800138000,张三\n13800138001,李四\n".encode("gbk"))
    assert (upload.encoding, upload.headers, upload.total_lines) == ("gb18030", ["手机号", "姓名"], 2)


@pytest.mark.parametrize("data, reason", [(b"", "empty"), (b"mobile,name\n", "no members")])
def test_inspect_refuses_files_without_members(data, reason):
    with pytest.raises(ValidationError, match=reason):
        inspect_upload(data)


def test_a_good_row_gives_checked_fields():
    row = parse_row(2, ["138 0013 8000", "张三", "女", "农历0815", "VIP，常客", "1,200", "靠窗"], MAPPING, HEADERS, "CN")
    assert row.msisdn == "+8613800138000" and row.points == 1200
    assert row.fields["name"] == "张三" and row.fields["gender"] == "f"
    assert row.fields["birthday"].lunar_month == 8 and row.fields["tags"] == ["VIP", "常客"]
    assert row.fields["custom_fields"] == {"备注": "靠窗"}


def test_empty_cells_give_no_fields_so_a_merge_keeps_what_is_there():
    row = parse_row(2, ["13800138000", "", "", "", "", "", ""], MAPPING, HEADERS, "CN")
    assert row.fields == {} and row.points is None


@pytest.mark.parametrize("cells, reason", [
    (["12345"], "phone"),
    (["", "张三"], "empty"),
    (["13800138000", "", "x"], "Gender"),
    (["13800138000", "", "", "19901345"], "date"),
    (["13800138000", "", "", "", "", "-5"], "at least 0"),
    (["13800138000", "", "", "", "", "1.5"], "whole number"),
    (["13800138000", "名" * 65], "64"),
    (["", "", ""], "Blank"),
])
def test_a_bad_row_says_why(cells, reason):
    with pytest.raises(ValidationError, match=reason):
        parse_row(7, cells, MAPPING, HEADERS, "CN")


def test_the_headers_of_an_export_in_either_language_map_back():
    english = ["Mobile", "Name", "Gender", "Birthday", "Tags", "Points", "Tier", "Total spend", "Last visit",
               "Joined", "Opted out"]
    chinese = ["手机号", "姓名", "性别", "生日", "标签", "积分", "等级", "累计消费", "最近到店", "入会时间", "已退订"]
    expected = {"0": "msisdn", "1": "name", "2": "gender", "3": "birthday", "4": "tags", "5": "points",
                "6": "ignore", "7": "ignore", "8": "ignore", "9": "ignore", "10": "opted_out"}
    assert guess_mapping(english) == guess_mapping(chinese) == expected
