"""Throwaway local servers (a Synapse homeserver) for the test suite and the demo."""
