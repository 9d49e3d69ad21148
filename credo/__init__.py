"""credo: the glue shared by every part of the framework: the `credo` CLI and the config base class."""
