"""Nextcloud: Files (documents), Teams and shares, Talk (chat), Deck (cards) and Calendar (meetings)."""
