"""Handlers: the steps of a dataset's chain. `registry.build_chain` assembles them."""
