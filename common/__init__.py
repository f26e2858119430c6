"""Code shared by the app's activities, orchestrators and HTTP starters."""
