"""The pure reader and matcher of inbound texts, and reply templates."""
import pytest
from hypothesis import example, given, settings, strategies as st

from mcrm.core.templates import TemplateError, check_template, render_template, template_fields
from mcrm.core.text import fold
from mcrm.keywords.rules import MAX_TEXT_LENGTH, KeywordTable, Outcome, find_conflicts, parse_text, split_words


def table():
    made = KeywordTable(stop_words=frozenset({"td", "t", "退订", "stop", "n"}))
    made.add("join", ["ZC", "注册", "JOIN"])
    made.add("help", ["BZ", "?", "？"])
    made.add("stop", ["TD", "T", "退订", "STOP", "N"])
    made.add("points", ["JF", "积分"])
    return made


@pytest.mark.parametrize("text,keyword,args", [
    ("ZC 张三 19900315", "zc", ("张三", "19900315")),
    ("ｚｃ　张三，１９９００３１５", "zc", ("张三", "19900315")),
    ("  ZC#张三#1990-03-15 。", "zc", ("张三", "1990-03-15")),
    ("ZC+Tom+Lee", "zc", ("Tom", "Lee")),
    ("ZC：张三：0315", "zc", ("张三", "0315")),
    ("【JF】", "jf", ()),
    ("JF!!!", "jf", ()),
    ("?", "?", ()),
    ("？？", "?", ()),
])
def test_text_is_read_as_a_folded_keyword_and_words_as_written(text, keyword, args):
    parsed = parse_text(text)
    assert parsed.outcome == Outcome.TEXT
    assert parsed.keyword == keyword
    assert parsed.args == args


def test_names_keep_their_case():
    assert parse_text("join Tom LEE").args == ("Tom", "LEE")


def test_rest_keeps_free_text_for_feedback_as_sent():
    parsed = parse_text("YJ：菜太咸了，下次 少放盐！")
    assert (parsed.keyword, parsed.rest) == ("yj", "菜太咸了，下次 少放盐")
    assert parsed.text == "YJ：菜太咸了，下次 少放盐！"


def test_only_what_is_matched_is_folded():
    parsed = parse_text("ＹＪ，菜（好）吃＋１")
    assert (parsed.keyword, parsed.first, parsed.args, parsed.rest) == ("yj", "ＹＪ", ("菜(好)吃", "1"), "菜（好）吃＋１")


@pytest.mark.parametrize("text,outcome", [
    (None, Outcome.EMPTY), ("", Outcome.EMPTY), ("   \u3000 ", Outcome.EMPTY),
    ("x" * (MAX_TEXT_LENGTH + 1), Outcome.TOO_LONG), ("\x00\x01\x02", Outcome.GARBLED),
    ("\ufffd\ufffdA", Outcome.GARBLED),
])
def test_empty_over_long_and_garbled_texts_are_told_apart(text, outcome):
    assert parse_text(text).outcome == outcome


@pytest.mark.parametrize("text,app,args", [
    ("注册张三 0315", "join", ("张三", "0315")),
    ("积分", "points", ()),
    ("退订。", "stop", ()),
    ("Tea", None, ()),        # T is a stop word, but ASCII keywords never match inside a word
    ("TEST", None, ()),
])
def test_chinese_keywords_may_be_glued_to_the_next_word(text, app, args):
    matched, parsed = table().match(parse_text(text))
    assert matched == app
    if app:
        assert parsed.args == args


def test_stop_words_are_recognised_glued_or_not():
    assert table().is_stop(parse_text("退订谢谢"))
    assert table().is_stop(parse_text("stop"))
    assert not table().is_stop(parse_text("STOPPED"))


def test_conflicts_are_found_in_folded_form():
    taken = {"zc": "join"}
    assert find_conflicts(["ｚｃ", "NEW", "new"], taken) == [("ｚｃ", "join"), ("new", None)]


def test_keywords_typed_in_a_form_are_split_on_any_list_separator():
    assert split_words("ZC, 注册、JOIN；加入") == ["ZC", "注册", "JOIN", "加入"]


def test_templates_fill_named_fields_and_keep_literal_braces():
    assert render_template("{name}有{points}分 {{x}}", {"name": "张三", "points": 5}) == "张三有5分 {x}"


def test_templates_never_reach_into_objects():
    assert render_template("{name.__class__}", {"name": "x"}) == ""


def test_template_check_names_the_unknown_placeholder_and_the_allowed_ones():
    with pytest.raises(TemplateError, match=r"\{nmae\}.*\{name\}"):
        check_template("hi {nmae}", ("name", "points"))
    with pytest.raises(TemplateError, match="brace"):
        check_template("hi {name", ("name",))
    with pytest.raises(TemplateError, match="empty"):
        check_template("  ", ("name",))
    check_template("{name}: {{ok}}", ("name",))
    assert template_fields("{a}{{b}}{c}") == ["a", "c"]


@pytest.mark.parametrize("text,keyword,args", [
    ("ZC \x1b张三\x00 0315", "zc", ("张三", "0315")),
    ("\x07JF \x7f谢谢", "jf", ("谢谢",)),
    ("\x1b :", ":", ()),
])
def test_control_codes_are_dropped(text, keyword, args):
    parsed = parse_text(text)
    assert (parsed.outcome, parsed.keyword, parsed.args) == (Outcome.TEXT, keyword, args)
    assert not any(ord(ch) < 0x20 and not ch.isspace() for ch in parsed.text)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=1000))
@example("\x1b :")  # once read as a text with an empty keyword
def test_any_text_is_read_without_error(text):
    parsed = parse_text(text)
    assert parsed.outcome in (Outcome.TEXT, Outcome.EMPTY, Outcome.TOO_LONG, Outcome.GARBLED)
    if parsed.is_text:
        assert parsed.keyword and parsed.keyword == fold(parsed.keyword)
    table().match(parsed)
    table().is_stop(parsed)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.dictionaries(st.text(max_size=10), st.text(max_size=10)))
def test_any_template_renders_or_is_refused_cleanly(template, values):
    render_template(template, values)
    try:
        check_template(template, tuple(values))
    except TemplateError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["ZC", "JF", "TD", "注册", "积分"]), st.sampled_from([" ", ",", "，", "#", "+", ":", "：", "　"]),
       st.text(alphabet=st.characters(whitelist_categories=("Lo", "Nd")), min_size=1, max_size=10))
def test_keyword_and_words_survive_every_separator(keyword, separator, word):
    matched, parsed = table().match(parse_text(f"{keyword}{separator}{word}"))
    assert matched is not None
    assert parsed.keyword == fold(keyword)
    assert parsed.rest
