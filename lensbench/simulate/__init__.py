"""Simulators: parameter draws, populations and image or map rendering."""
