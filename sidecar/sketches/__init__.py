"""Mergeable sketches of feature distributions and the profiles built from them (pure layer)."""

from .categorical import CategoricalSketch
from .moments import Moments
from .numeric import NumericSketch, decide_scale
from .profile import FeatureKey, Profile, ProfileBuilder

__all__ = ["CategoricalSketch", "FeatureKey", "Moments", "NumericSketch", "Profile", "ProfileBuilder", "decide_scale"]
