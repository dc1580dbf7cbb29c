"""`winnow report`: one self-contained HTML file of the lake, its scores, selections and runs."""
