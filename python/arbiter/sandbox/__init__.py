"""Running code answers against tests in a sandbox (bubblewrap), for the learner's grades.

executor.py (CodeExecutor.grade: what to check, the queue, the grade) -> runner.py (the Runner
interface) -> python_runner.py + harness.py (Python; with harness_guard.py, harness_compare.py and
harness_bind.py, joined into the one program run inside) -> bwrap.py (the jail, limits, the kill).
extract.py reads programs and doctests from text in linear time; request_tests.py reads a
request's tests. ARCHITECTURE.md says why bubblewrap.
"""
