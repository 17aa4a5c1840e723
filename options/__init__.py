"""Command-line options: base, train and test (argparse only)."""
