"""Model adapters, one module per backend, imported as ``dubengine.backends``.

Nothing here is imported by ``import dubengine``; the registry loads a module on first use.
"""
