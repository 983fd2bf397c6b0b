"""ganopt: compare optimization strategies for training GANs, on stacks of runs."""

from .losses import discriminator_loss, generator_loss
from .metrics import expected_hq_fraction_2d, mode_metrics
from .problems import PROBLEMS, Game, Problem, get_problem, register_problem
from .hyperparameters import Hyperparameter
from .registry import registry_replacements
from .schemes import SCHEMES, Scheme, register_scheme
from .strategies import STRATEGIES, Strategy, get_strategy, register_strategy
from .stack import Stack
from .train import StackResult, declarations, train_stack
from .updates import BASE_UPDATES, BaseUpdate, register_base_update

__version__ = "0.1.0"

__all__ = [
    "BASE_UPDATES", "PROBLEMS", "SCHEMES", "STRATEGIES", "BaseUpdate", "Game", "Hyperparameter", "Problem",
    "Scheme", "Stack",
    "StackResult", "Strategy", "declarations", "discriminator_loss", "expected_hq_fraction_2d", "generator_loss",
    "get_problem", "get_strategy", "mode_metrics", "register_base_update", "register_problem", "register_scheme",
    "register_strategy", "registry_replacements", "train_stack",
]
