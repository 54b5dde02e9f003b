"""Sentiment of feedback: VADER on the comment text, the rating when the text carries no opinion."""
import socket

import pytest

from crm_service.services import sentiment
from crm_service.services.sentiment import analyse, analyser


def test_a_positive_comment_is_positive():
    result = analyse("Great tour, the guide was wonderful!", 3)
    assert (result.label, result.source) == ("positive", "text")
    assert result.score > 0.5


def test_a_negative_comment_is_negative():
    result = analyse("The worst trip ever. Rude driver and a dirty bus.", 3)
    assert (result.label, result.source) == ("negative", "text")
    assert result.score < -0.5


def test_a_mixed_comment_is_neutral():
    result = analyse("I liked the guide and disliked the bus.", 3)
    assert (result.label, result.source) == ("neutral", "text")
    assert -0.05 < result.score < 0.05


def test_five_stars_with_a_clearly_negative_comment_is_negative():
    result = analyse("Absolutely terrible experience, the driver was rude and the bus was filthy.", 5)
    assert (result.label, result.source) == ("negative", "text")
    assert result.score < -0.5


def test_one_star_with_a_clearly_positive_comment_is_positive():
    assert analyse("Wonderful, friendly staff and a beautiful hotel. Loved it!", 1).label == "positive"


def test_negation_is_understood():
    assert analyse("The guide was not good at all.", 5).label == "negative"


@pytest.mark.parametrize("rating, label, score", [
    (1, "negative", -1.0), (2, "negative", -0.5), (3, "neutral", 0.0), (4, "positive", 0.5), (5, "positive", 1.0),
])
def test_without_a_comment_the_rating_decides(rating, label, score):
    assert analyse(None, rating) == sentiment.Sentiment(label, score, "rating")


@pytest.mark.parametrize("comments", ["", "   ", "\n\t"])
def test_a_blank_comment_counts_as_no_comment(comments):
    assert analyse(comments, 1) == sentiment.Sentiment("negative", -1.0, "rating")


@pytest.mark.parametrize("comments", ["The bus left at 9.", "Très décevant"])
def test_a_comment_without_any_opinion_word_leaves_it_to_the_rating(comments):
    assert analyse(comments, 5) == sentiment.Sentiment("positive", 1.0, "rating")
    assert analyse(comments, 3) == sentiment.Sentiment("neutral", 0.0, "rating")


@pytest.mark.parametrize("comments", [
    "BEST TRIP EVER!!! AMAZING AMAZING AMAZING :) :) <3 " * 20,
    "WORST, HORRIBLE, DISGUSTING, AWFUL, TERRIBLE!!! " * 40,
])
def test_scores_stay_between_minus_one_and_one(comments):
    assert -1.0 <= analyse(comments, 3).score <= 1.0


def test_labels_follow_vaders_thresholds():
    assert [sentiment.label_for(value) for value in (0.05, 0.0499, -0.0499, -0.05)] == [
        "positive", "neutral", "neutral", "negative"]


def test_the_analyser_is_built_once_per_process():
    assert analyser() is analyser()


def test_the_analyser_works_offline_from_the_files_its_package_ships(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the sentiment model must not use the network")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    analyser.cache_clear()
    try:
        built = analyser()
        assert len(built.lexicon) > 7000
        assert analyse("I love it", 1).label == "positive"
    finally:
        analyser.cache_clear()
