"""Image tools: sample grids, a small feature classifier, and ``fd_classifier`` (a Fréchet distance).

``fd_classifier`` is the Fréchet distance between Gaussians fitted to features of a small
classifier that flowkit trains on the data set's training split; it is *not* FID (no Inception
network is involved, and its values are not comparable with published FIDs).
"""

from .classifier import FeatureClassifier as FeatureClassifier
from .classifier import accuracy as accuracy
from .classifier import load_or_train_classifier as load_or_train_classifier
from .classifier import train_classifier as train_classifier
from .evaluate import ImageEvaluation as ImageEvaluation
from .evaluate import evaluate_images as evaluate_images
from .frechet import fd_classifier as fd_classifier
from .frechet import frechet_distance as frechet_distance
from .grid import image_grid as image_grid
from .grid import save_image_grid as save_image_grid

__all__ = [
    "FeatureClassifier",
    "ImageEvaluation",
    "accuracy",
    "evaluate_images",
    "fd_classifier",
    "frechet_distance",
    "image_grid",
    "load_or_train_classifier",
    "save_image_grid",
    "train_classifier",
]
