"""Weekly schedules: the configuration (:mod:`.model`), their evaluation in a time
zone with daylight saving (:mod:`.calendar`) and the timeline (:mod:`.timeline`)."""

from app.schedules.calendar import Evaluator, Plan
from app.schedules.model import ALWAYS, DateException, Schedule, Week, Window

__all__ = ["ALWAYS", "DateException", "Evaluator", "Plan", "Schedule", "Week", "Window"]
