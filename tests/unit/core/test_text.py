"""Text normalisation: what every rule, dedupe and clustering comparison sees."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import pytest
from hypothesis import given
from hypothesis import strategies as st

import watcher.core.text as text_module
from watcher.core.models import Story
from watcher.core.text import (
    _MAY_BE_UNSPACED,
    _UNSPACED_RUN,
    WORD,
    StoryText,
    _segment_runs,
    fold,
    fold_keep_case,
    html_to_text,
    segment,
    words,
)


class TestHtmlToText:
    def test_tags_are_stripped_and_entities_decoded(self) -> None:
        assert html_to_text("<b>Rebels</b> &amp; <i>army</i> in Hama&#39;s east") == (
            "Rebels & army in Hama's east"
        )

    def test_block_elements_keep_words_apart(self) -> None:
        assert words(html_to_text("<p>Hama</p><p>rebels</p>line<br>break")) == [
            "Hama",
            "rebels",
            "line",
            "break",
        ]

    def test_inline_elements_do_not_split_a_word(self) -> None:
        assert html_to_text("Ha<b>ma</b>") == "Hama"

    def test_script_style_and_comments_are_dropped_with_their_content(self) -> None:
        markup = "a<script>var x = '<p>';</script>b<STYLE>p{}</STYLE>c<!-- hidden -->d"
        assert html_to_text(markup) == "a b cd"

    def test_unclosed_script_keeps_the_text_after_it(self) -> None:
        assert html_to_text("<script>news after a stray tag") == "news after a stray tag"

    def test_a_less_than_sign_that_is_not_a_tag_stays(self) -> None:
        assert html_to_text("1 < 2 and a<b") == "1 < 2 and a<b"

    def test_whitespace_is_collapsed(self) -> None:
        assert html_to_text("  Hama\n\t rebels&nbsp; ") == "Hama rebels"

    @pytest.mark.parametrize(
        "hostile",
        [
            "<a" * 100_000,
            "<!--" * 100_000,
            "<!--x>" * 50_000,
            "<script>" * 50_000,
            "<script>x<br>" * 30_000,
            "<p " * 100_000,
        ],
    )
    def test_hostile_markup_is_handled_in_linear_time(self, hostile: str) -> None:
        # A backtracking tag regex took over ten seconds on these.
        started = time.perf_counter()
        html_to_text(hostile)
        assert time.perf_counter() - started < 1.0

    @given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="<&")))
    def test_plain_text_only_has_its_spaces_collapsed(self, text: str) -> None:
        assert html_to_text(text) == " ".join(text.split())


class TestFold:
    @pytest.mark.parametrize(
        ("a", "b"),
        [
            ("Türkiye", "turkiye"),
            ("Συρία", "ΣΥΡΙΑ"),
            ("Ёлка", "елка"),
            ("Μοσχοβίτες", "μοσχοβιτεσ"),  # final sigma too
            ("ﬁnance", "finance"),  # NFKC ligature
            ("Straße", "STRASSE"),
            ("İstanbul", "istanbul"),
        ],
    )
    def test_case_and_optional_accents_are_ignored(self, a: str, b: str) -> None:
        assert fold(a) == fold(b)

    def test_arabic_short_vowels_and_tatweel_are_optional(self) -> None:
        assert fold("سُورِيَا") == fold("سوريا")
        assert fold("ســوريا") == fold("سوريا")

    def test_indic_vowel_signs_and_viramas_stay(self) -> None:
        assert fold("हिन्दी") == "हिन्दी"
        assert fold("हिन्दी") != fold("हनद")
        assert fold("বাংলা") == "বাংলা"

    def test_keep_case_folds_everything_but_case(self) -> None:
        assert fold_keep_case("HTS Türkiye") == "HTS Turkiye"

    @pytest.mark.parametrize("letter", ["a", "ب", "क", " "])
    def test_a_long_run_of_marks_is_folded_in_linear_time(self, letter: str) -> None:
        started = time.perf_counter()
        fold((letter + "\u0301" * 20_000) * 5)
        assert time.perf_counter() - started < 1.0

    @given(st.text())
    def test_folding_twice_changes_nothing(self, text: str) -> None:
        assert fold(fold(text)) == fold(text)


class TestWords:
    def test_indic_words_are_not_cut(self) -> None:
        assert words(fold("हिन्दी समाचार")) == ["हिन्दी", "समाचार"]

    def test_apostrophes_and_hyphens_separate_words(self) -> None:
        assert words(fold("Hama's Hama’s al-Sham")) == ["hama", "s", "hama", "s", "al", "sham"]

    def test_digits_are_words(self) -> None:
        assert words("9/11 attacks") == ["9", "11", "attacks"]


# What the segmenters give today (ICU 78.3 in icu4py 1.2.0, jieba 0.42.1): if an
# upgrade changes one of these, check the labelled matches in test_rules.py too.
SEGMENTATIONS = [
    # Chinese: ICU, and jieba for the names ICU cuts into single characters.
    ("叙利亚军队反击叛军", ["叙利亚", "军队", "反击", "叛军"]),
    ("哈马", ["哈马"]),  # Hama; ICU alone gives 哈 马
    ("哈马斯", ["哈马斯"]),  # Hamas; ICU alone gives 哈 马 斯
    ("哈马斯发表声明", ["哈马斯", "发表", "声明"]),
    ("叛军进入哈马", ["叛军", "进入", "哈马"]),
    ("哈马的叛军", ["哈马", "的", "叛军"]),
    # Japanese: ICU.
    ("ハマ", ["ハマ"]),
    ("ハマス", ["ハマス"]),
    ("ハマで反政府勢力が", ["ハマ", "で", "反", "政府", "勢力", "が"]),
    ("ハマスが声明を発表", ["ハマス", "が", "声明", "を", "発表"]),
    ("シリア軍が反撃した", ["シリア", "軍", "が", "反撃", "した"]),
    # Thai, Lao, Khmer, Burmese: ICU.
    ("กองทัพซีเรียโจมตีกลุ่มกบฏ", ["กองทัพ", "ซีเรีย", "โจมตี", "กลุ่ม", "กบฏ"]),
    ("ฮามาสออกแถลงการณ์", ["ฮา", "มาส", "ออก", "แถลงการณ์"]),
    ("ກອງທັບລາວ", ["ກອງທັບ", "ລາວ"]),
    ("ប្រទេសកម្ពុជា", ["ប្រទេស", "កម្ពុជា"]),
    ("រាជធានីភ្នំពេញ", ["រាជធានី", "ភ្នំពេញ"]),
    ("ရန်ကုန်မြို့", ["ရန်", "ကုန်", "မြို့"]),
    ("မြန်မာစစ်တပ်က", ["မြန်မာ", "စစ်တပ်", "က"]),
]

# Characters of the segmented scripts (and the marks they take), for generated runs.
_UNSPACED_SAMPLE = list(
    "叙利亚军队反击叛军哈马斯发表声明的在进入敘亞軍隊々"
    "ハマスでが反政府勢力シリア軍をーぁゔ"
    "กองทัพซีเรียฮามาสกำลังออกแถลงการณ์่้"
    "ກອງທັບລາວປະເທດ"
    "ប្រទេសកម្ពុជាភ្នំពេញ"
    "ရန်ကုန်မြို့မြန်မာစစ်တပ်"
)
unspaced_runs = st.lists(st.sampled_from(_UNSPACED_SAMPLE), min_size=1, max_size=25).map("".join)


class TestSegmentation:
    @pytest.mark.parametrize(("run", "expected"), SEGMENTATIONS)
    def test_runs_of_unspaced_scripts_are_cut_into_dictionary_words(
        self, run: str, expected: list[str]
    ) -> None:
        assert segment(run) == expected
        assert words(fold(run)) == expected

    def test_a_name_and_the_longer_name_it_begins_stay_apart(self) -> None:
        # The whole point: Hama must not be a piece of Hamas.
        assert "哈马" not in words("哈马斯发表声明")
        assert "哈马" in words("叛军进入哈马")
        assert "ハマ" not in words("ハマスが声明を発表")
        assert "ハマ" in words("ハマで反政府勢力が")

    @given(unspaced_runs)
    def test_the_pieces_are_the_run(self, run: str) -> None:
        pieces = segment(run)
        assert "".join(pieces) == run
        assert all(pieces)

    @given(st.lists(unspaced_runs, min_size=1, max_size=5))
    def test_runs_cut_together_are_cut_as_alone(self, runs: list[str]) -> None:
        # words() hands all the runs of a text to ICU at once, joined by line breaks.
        assert _segment_runs(runs) == [segment(r) for r in runs]

    def test_spaced_scripts_and_digits_around_a_run_are_words_of_their_own(self) -> None:
        assert words(fold("iPhone手机2024年")) == ["iphone", "手机", "2024", "年"]
        assert words(fold("Hama 哈马, ハマ")) == ["hama", "哈马", "ハマ"]
        assert words(fold("Türkiye हिन्दी Συρία")) == ["turkiye", "हिन्दी", "συρια"]

    def test_half_width_katakana_is_cut_as_full_width(self) -> None:
        assert words(fold("ﾊﾏｽが声明")) == ["ハマス", "が", "声明"]

    def test_the_split_thai_and_lao_vowel_am_folds_to_one_character(self) -> None:
        # NFKC alone spells ำ as ํ + า, which ICU's dictionary then cuts (กํา ลัง).
        assert fold("กำลัง") == fold("ก\u0e4d\u0e32ลัง") == "กำลัง"
        assert words(fold("ทหารถอนกำลัง")) == ["ทหาร", "ถอน", "กำลัง"]
        assert fold("ນ\u0ecd\u0eb2") == fold("ນຳ") == "ນຳ"

    @pytest.mark.parametrize(
        "text",
        [
            "Syrian rebels entered Hama",
            fold("Les rebelles syriens ont annoncé « la prise » de Hama — une ville clé"),
            fold("هاجم المتمردون حماة"),
            fold("हिन्दी समाचार"),
            fold("서울에서 회담"),  # Korean is written with spaces: words as before
        ],
    )
    def test_text_without_unspaced_scripts_never_reaches_the_segmenter(
        self, text: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def fail(runs: list[str]) -> list[list[str]]:
            raise AssertionError(f"segmenter called on {runs!r}")

        monkeypatch.setattr(text_module, "_segment_runs", fail)
        assert words(text) == WORD.findall(text)

    def test_the_quick_check_finds_every_character_a_run_may_hold(self) -> None:
        # Runs are looked for inside words only: symbols such as the CJK radicals
        # and Khmer lunar dates belong to the scripts but are not word characters.
        missed = [
            hex(c)
            for c in range(0x110000)
            if WORD.match(chr(c))
            and _UNSPACED_RUN.match(chr(c))
            and not _MAY_BE_UNSPACED.match(chr(c))
        ]
        assert missed == []

    def test_the_segmenters_load_lazily_in_each_process(self) -> None:
        # Importing the text module loads neither ICU's break iterator data nor
        # jieba's 80 MB dictionary; jieba comes with the first Chinese name.
        script = (
            "import sys; import watcher.core.text as t; "
            "assert 'jieba' not in sys.modules; "
            "assert t.words('叙利亚军队') == ['叙利亚', '军队'] and t._jieba is None; "
            "assert t.words('哈马斯发表声明') == ['哈马斯', '发表', '声明']; "
            "assert t._jieba is not None"
        )
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""  # jieba's loading messages are silenced

    def test_worker_processes_segment_on_their_own(self) -> None:
        # Stories cross to workers as plain data; each worker makes its segmenters.
        context = multiprocessing.get_context("forkserver")
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            remote = pool.submit(words, "哈马斯发表声明，叛军进入哈马").result(timeout=60)
        assert remote == words("哈马斯发表声明，叛军进入哈马")
        assert remote == ["哈马斯", "发表", "声明", "叛军", "进入", "哈马"]

    def test_segmenting_a_long_text_takes_linear_time(self) -> None:
        text = "叙利亚军队反击叛军，叛军进入哈马。" * 2000 + "กองทัพซีเรีย" * 2000
        started = time.perf_counter()
        found = words(text)
        assert time.perf_counter() - started < 2.0
        assert found.count("哈马") == 2000


# ---------------------------------------------------------------- markup edge cases (#18)


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        # a comment ends at the first -->, whatever it holds
        ("x<!-- a > b -->y", "xy"),
        ("x<!-- <p>b</p> -->y", "xy"),
        ("x<!-- one -->y<!-- two -->z", "xyz"),
        ("x<!---->y", "xy"),
        # a comment that never closes: the rest is not a comment (nor are later ones)
        ("x<!-- open y", "x<!-- open y"),
        # raw blocks of any case are dropped with their content, on ASCII pages ...
        ("a<SCRIPT>secret()</SCRIPT>b", "a b"),
        ("a<Script>secret()</sCRIPT>b", "a b"),
        ("a<TEMPLATE><p>hidden</p></TEMPLATE>b", "a b"),
        ("a<STYLE>p { color: red }</Style>b", "a b"),
        # ... and on pages with any other letter, where the offsets must stay
        ("Şam<SCRIPT>secret()</SCRIPT>haber", "Şam haber"),
        ("Şam<script>secret()</SCRIPT>haber", "Şam haber"),
        ("Şam<TEMPLATE>hidden</TEMPLATE>haber", "Şam haber"),
        ("Şam<STYLE>p{}</STYLE>haber<ScRiPt>x</sCrIpT>!", "Şam haber !"),
        ("Дамаск<SCRIPT>x()</SCRIPT>ночью", "Дамаск ночью"),
        # a closing tag that is never closed drops the rest
        ("a<script>x</script", "a"),
        # a raw block whose closing tag is missing keeps its text, and so do later ones
        ("a<script>b<p>c<script>d", "ab cd"),
        # a closing tag alone is only a tag
        ("a</script>b", "ab"),
        ("a</p>b", "a b"),
        # not a tag: kept as text
        ("a <3 b", "a <3 b"),
        ("a<", "a<"),
        ("a<Ş>b", "a<Ş>b"),
        ("a <b", "a <b"),
        # declarations and processing instructions are tags
        ("<!DOCTYPE html>a<?xml version='1.0'?>b", "ab"),
        # a tag name stops at its first non-alphanumeric character
        ("a<br/>b", "a b"),
        ("a<h1 class='x'>b</h1>c", "a b c"),
        ("a<scripts>b</scripts>c", "abc"),
        ("only &amp; entities", "only & entities"),
        # a closing tag met first is no opening one, nor is a slash before a tag
        ("a</script>b</script>c", "abc"),
        ("a/<script>x</script>b", "a/ b"),
        # a raw block ends at its own first closing tag, looked for after it
        ("a</script>b<script>c</script>d", "ab d"),
        ("a<script>x</script>b<script>y</script>c", "a b c"),
        # an empty comment written as <!----> ends there
        ("x<!---->y<!-- z -->w", "xyw"),
        # İ lower-cases to two characters: the page's offsets must stay its own
        ("İ" * 20 + "<script>x</script>haber <b>bold</b> end", "İ" * 20 + " haber bold end"),
        ("İ" * 9 + "<SCRIPT>x</SCRIPT>a<b>b</b>c", "İ" * 9 + " abc"),
    ],
)
def test_markup_is_cut_as_a_browser_would_show_it(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("HTS Türkiye", "HTS Turkiye"),
        # an accent on a letter that has no accented form of its own is optional too
        ("Q\u0301atar", "Qatar"),
        ("Ŝ\u0323", "S"),
        ("ASCII stays", "ASCII stays"),
        ("Ｈａｍａ", "Hama"),  # full-width letters are letters
    ],
)
def test_keep_case_folding_drops_optional_marks_and_width_but_not_case(
    text: str, folded: str
) -> None:
    assert fold_keep_case(text) == folded


def test_a_story_s_text_is_each_of_its_fields_stripped_of_markup() -> None:
    story = Story(
        feed="wire",
        guid=None,
        link=None,
        title="<b>Hama</b> &amp; Homs",
        summary="<p>Rebels</p><p>advance</p>",
        content="<script>x()</script>Full <i>story</i>",
    )
    assert StoryText.of(story) == StoryText("Hama & Homs", "Rebels advance", "Full story")


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("ㄅㄆㄇ news", ["ㄅㄆㄇ", "news"]),  # Bopomofo shares the blocks of unspaced scripts
        ("ᄀᄁ", ["ᄀᄁ"]),  # so do Hangul jamo
    ],
)
def test_letters_near_the_unspaced_scripts_are_not_segmented(text: str, found: list[str]) -> None:
    assert words(fold(text)) == found
