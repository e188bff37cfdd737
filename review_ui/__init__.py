"""review_ui: the web application where people settle what the machine was unsure of."""
