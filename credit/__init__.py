"""Credit assignment: modules that turn a sparse outcome into a per-step learning signal.

`credit.get("spa")` returns a module class; `credit.available()` lists them. Each module lives in its
own file and registers itself with `@register_credit(name)`.
"""

from credit.base import (
    CreditContext,
    CreditModule,
    CreditOutput,
    available,
    get,
    parse_spec,
    register_credit,
)

__all__ = ["CreditContext", "CreditModule", "CreditOutput", "available", "get", "parse_spec", "register_credit"]


def _discover() -> None:
    """Import every module of this package so that each `@register_credit` line runs."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        if info.name != "base" and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


_discover()
