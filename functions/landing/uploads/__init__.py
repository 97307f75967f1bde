"""Uploads: announced upload intents, presigning, lifecycle rules and owner-scoped reads."""
