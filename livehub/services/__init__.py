"""Use-cases on a node: buying, venue controls, views, periodic jobs, payments."""
