"""Pure builders of page parts: data in, Dash components out; no callbacks, no I/O."""
