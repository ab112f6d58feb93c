"""The web app: mailroom review, pen pal inbox and replies, admin dashboard. `create_app()` builds it."""
