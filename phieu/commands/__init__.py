"""Command groups of the phieu CLI, one module per area."""
