"""Results: the store (one row per run in a database), the analysis (intervals, learning curves, negative
transfer), the costs (break-even, storage, the user's constraints), the recommendation and its reasons in words,
the decision report (its content, figures, and Markdown/HTML rendering), and the Answers and Knowledge views."""
