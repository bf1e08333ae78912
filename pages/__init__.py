"""The dashboard's pages: each module exposes render() and creates no widgets when imported."""
