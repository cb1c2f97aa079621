"""The pure domain: partnerships, phase models, questions, agendas. No I/O, no platform types."""
