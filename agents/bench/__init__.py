"""`credo bench`: benchmark suites of ordinary training runs, reported with held-out evaluation and CIs.

suite.py (the YAML suites in suites/), runner.py (resumable, sharded, parallel cells), results.py (one run's
numbers), stats.py (IQM, bootstrap CIs), report.py + figures.py (report.md/json, figures), diagnostic.py and
oracle.py (the credit-quality diagnostic), cli.py (`credo bench credit`). See README.md here.
"""
