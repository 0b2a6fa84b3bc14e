"""Pure extraction: page bytes + URL in, raw fields out (design.md "Data flow").

``extract_detail`` (detail pages, ``detail.py``) and ``extract_listing`` (listing pages, ``listing.py``)
are the public entry points; both are imported on first use so that importing one submodule (say
``extract.text``) does not pull in the whole cascade.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .detail import extract_detail
    from .listing import extract_listing

__all__ = ["extract_detail", "extract_listing"]


def __getattr__(name: str) -> Any:
    if name == "extract_detail":
        from .detail import extract_detail

        return extract_detail
    if name == "extract_listing":
        from .listing import extract_listing

        return extract_listing
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
