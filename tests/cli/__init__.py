"""The command line: options, help, bad inputs, start-up, the pipeline."""
