"""The decoder LLM side of the methods: fits.py holds each method's fit on a decoder (the method modules one
level up point to them by name), predictors.py the fitted LLM that classifies, answers and retrieves."""
