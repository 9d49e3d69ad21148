"""credo: what every part of the framework shares (the config base class, the step and episode types, the
scorer interface credit modules see, quiet HF loading) and, on top of them all, the `credo` CLI."""
