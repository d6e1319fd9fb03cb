"""Weekly schedules: the configuration (:mod:`.model`) and their evaluation in a time
zone with daylight saving (:mod:`.calendar`). They know nothing of inputs and
outputs: the timeline of what each channel does with them is :mod:`app.timeline`."""

from app.schedules.calendar import Evaluator, Plan
from app.schedules.model import ALWAYS, DateException, Schedule, Week, Window

__all__ = ["ALWAYS", "DateException", "Evaluator", "Plan", "Schedule", "Week", "Window"]
