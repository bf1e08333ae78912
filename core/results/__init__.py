"""Results: the store (one row per run in a database), the analysis (intervals, learning curves, negative
transfer), the decision (costs, break-even, the recommendation), the report, and the Answers and Knowledge views."""
