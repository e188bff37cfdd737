"""Blueprints, one per area of the application."""
