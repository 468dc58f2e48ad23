"""artstyle: neural style transfer after Gatys, Ecker & Bethge (2015), as a library.

>>> import artstyle
>>> result = artstyle.stylize("photo.jpg", "painting.jpg", size=512)
>>> for event in artstyle.stylize_iter("photo.jpg", "painting.jpg", steps=200):
...     print(event.step, event.losses.total)
"""

from .engine import objective_terms, resolve_device, stylize, stylize_iter
from .images import load_image
from .params import PAPER_CONTENT_LAYERS, PAPER_STYLE_LAYERS, VGG19_LAYERS, StyleParams
from .progress import Losses, Progress
from .weights import VGGWeights, WeightsError, load_weights

__all__ = [
    "PAPER_CONTENT_LAYERS",
    "PAPER_STYLE_LAYERS",
    "Losses",
    "VGG19_LAYERS",
    "Progress",
    "StyleParams",
    "VGGWeights",
    "WeightsError",
    "load_image",
    "load_weights",
    "objective_terms",
    "resolve_device",
    "stylize",
    "stylize_iter",
]
__version__ = "0.1.0"
