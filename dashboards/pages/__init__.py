"""The dashboard's pages: one module each, registered with Dash Pages, with its own callbacks.

A page's ``layout`` is its skeleton (ids and loading placeholders, no data); its callbacks
read the address's filters (``Input("url", "search")``) and fill it from
:class:`dashboards.data.Data` through pure builders. Component ids start with the page's name.
"""
