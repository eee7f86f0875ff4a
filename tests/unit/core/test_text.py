"""Text normalisation: what every rule, dedupe and clustering comparison sees."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from watcher.core.text import fold, fold_keep_case, html_to_text, words


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
