"""The task-interference study: plan, data, stage-0 base, runs, statistics, figures and page.

:func:`~octavius.analysis.study.driver.run_study` is what ``tools/analysis/interference_study.py``
runs. The study is an experiment on top of the library: nothing in the runtime imports it.
"""

from octavius.analysis.study.plan import DEFAULT_STUDY, StudyPlan

__all__ = ["DEFAULT_STUDY", "StudyPlan"]
