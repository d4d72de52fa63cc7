"""The lessons' widgets: one module per lesson on one `Panel` base and one `render`."""
