"""The decoder LLM side that several methods share: fits.py the pieces their decoder fits are built from (each
method's fit_decoder is in its own module), predictors.py the fitted LLM that classifies, answers and retrieves."""
