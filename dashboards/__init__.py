"""The Dash application: pages for executives, analysts and employees."""
