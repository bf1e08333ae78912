"""The task: labelled texts (or questions with answers) in train, validation and test splits, and an optional
document corpus. data.py reads files, load.py builds a Task from a config's spec (a file, a QA file or a built-in
scenario in scenarios/), validation.py and qa.py check it in words, uploads.py stores what the dashboard
receives, coverage.py measures how well a model's tokenizer covers the text. documents.py reads a user's documents (a
folder, a zip through safezip.py, or files; settings in document_settings.py) and chunking.py cuts them into a qa
task's corpus."""
