"""Which recipes (`kellyd.train.data.Recipe`) train which model, by model key."""

from __future__ import annotations

from kellyd.config import TARGET_MODELS
from kellyd.train import recipe_dynamics, recipe_emotion, recipe_groove, recipe_harmony, recipe_melody
from kellyd.train.data import Recipe
from kellyd.train.dataset import TrainingSet

RECIPES: dict[str, Recipe] = {
    r.key: r for r in (recipe_emotion.MIDI_RECIPE, recipe_emotion.AUDIO_RECIPE, recipe_melody.RECIPE,
                       recipe_harmony.RECIPE, recipe_dynamics.RECIPE, recipe_groove.RECIPE)
}
MODEL_KEYS: tuple[str, ...] = tuple(RECIPES)


def recipes_for(model: str, training_set: TrainingSet) -> tuple[Recipe, ...]:
    """The recipes to train for `model` on this dataset.

    `model` is one of the five names or a model key (`EmotionRecognizer-audio`). A name with
    two variants gives the variants whose kind the dataset has samples of.
    """
    if model in RECIPES:
        return (RECIPES[model],)
    if model not in TARGET_MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {', '.join((*TARGET_MODELS, *MODEL_KEYS))}")
    kinds = {s.kind for s in training_set.samples}
    variants = [r for r in RECIPES.values() if r.model == model]
    present = [r for r in variants if r.kind in kinds]
    return tuple(present or variants[:1])
