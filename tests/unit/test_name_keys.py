import random

from mcrm.members.name_keys import name_sort_key


def test_chinese_names_become_pinyin_with_tones_then_the_character():
    assert name_sort_key("张三") == "zhang1张san1三"
    assert name_sort_key(" Zhang Wei ") == "zhang wei"


def test_a_surname_is_read_as_a_surname_only_at_the_start():
    assert name_sort_key("曾") == "zeng1曾" and name_sort_key("单") == "shan4单"
    assert name_sort_key("李曾").endswith("ceng2曾")


def test_the_key_of_a_name_begins_with_the_key_of_any_start_of_it_in_any_case():
    """What the name search relies on: an index range on the key finds every name starting with the text."""
    rng = random.Random(5)
    alphabet = "张王李赵曾单重乐行长abcXYZ é·1 "
    for _ in range(2000):
        name = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))).strip()
        for end in range(1, len(name) + 1):
            start = name[:end].strip()
            for typed in (start, start.upper(), start.lower()):
                assert name_sort_key(name).startswith(name_sort_key(typed)), (name, typed)
