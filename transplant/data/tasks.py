"""Labelled tasks as text-to-text for decoder models: a prompt, then a label word.

A model is trained with the loss on the label word's tokens and scored by label likelihood
(`eval.classify`), so the same prompt format serves training, zero-shot and ported modules.
The sentiment tasks share one template, so a module trained on one dataset can be ported to
the other as it is (Sabry & Belz port between SST-2 and Rotten Tomatoes the same way).
"""

from __future__ import annotations

from dataclasses import dataclass

SENTIMENT_PROMPT = "Text: {text}\nSentiment:"


@dataclass(frozen=True)
class LabelTask:
    corpus: str  # a labelled corpus (data/corpora.py)
    template: str  # the prompt, with {text}
    label_words: dict[str, str]  # label -> the words that answer it (leading space)


TASKS = {
    "tweets": LabelTask("tweets", SENTIMENT_PROMPT, {"negative": " negative",
                                                     "neutral": " neutral",
                                                     "positive": " positive"}),
    "movie_reviews": LabelTask("movie_reviews", SENTIMENT_PROMPT, {"negative": " negative",
                                                                   "positive": " positive"}),
}
