"""The engine: debounce, NO/NC, arming, linkage, output modes, faults."""

from app.engine.core import Engine
from app.engine.runner import EngineRunner

__all__ = ["Engine", "EngineRunner"]
