"""Pure scheduling: filters, evaluator and the decision for one peer."""
