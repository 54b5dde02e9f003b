"""Sentiment of a feedback: VADER on the comment text, the star rating when the text says nothing."""
from dataclasses import dataclass
from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

# VADER's own thresholds on its compound score (Hutto & Gilbert, 2014).
POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05
# A rating alone: 1 -> -1.0, 3 -> 0.0, 5 -> 1.0.
RATING_SCORES = {1: -1.0, 2: -0.5, 3: 0.0, 4: 0.5, 5: 1.0}


@dataclass(frozen=True)
class Sentiment:
    label: str
    score: float
    source: str  # "text" or "rating", for tests and logs; not stored


@lru_cache(maxsize=1)
def analyser():
    """The analyser, built once per process (it reads its lexicon files from the installed package)."""
    return SentimentIntensityAnalyzer()


def label_for(score):
    if score >= POSITIVE_AT:
        return "positive"
    if score <= NEGATIVE_AT:
        return "negative"
    return "neutral"


def from_rating(rating):
    score = RATING_SCORES[rating]
    return Sentiment(label_for(score), score, "rating")


def analyse(comments, rating):
    """The comment decides when it carries any opinion; otherwise (no text, or only facts) the rating does.

    A text in which the lexicon finds no opinion word at all ("The bus left at 9.", or a language the
    lexicon does not cover) says nothing about sentiment, so it is treated like no text.
    """
    text = (comments or "").strip()
    if text:
        scores = analyser().polarity_scores(text)
        if scores["pos"] or scores["neg"]:
            score = max(-1.0, min(1.0, round(scores["compound"], 4)))
            return Sentiment(label_for(score), score, "text")
    return from_rating(rating)
