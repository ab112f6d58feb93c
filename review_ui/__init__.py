"""The web app: mailroom review, pen pal inbox and replies, admin dashboard (`app.create_app`)."""
