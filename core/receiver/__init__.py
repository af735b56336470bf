"""The receiver service (`lifeline serve`): Lifeline's join links and the vendors' signed callbacks.

    from lifeline_hub.core.receiver.app import create_app    # create_app(config, store, host) -> FastAPI

Kept import-light: the CLI imports `lifeline_hub.core.receiver.serve` on every start.
"""
