"""The ganopt harness: suites, stacks, execution, results, reports and the command line."""
