"""What every view shares."""

from __future__ import annotations


class Static:
    """A widget that also says what it shows as HTML, for frontends without a widget manager
    (nbconvert, GitHub): mixed in before the ipywidgets class, by views that define
    ``static_html()``."""

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data["text/html"] = self.static_html()
        return bundle
