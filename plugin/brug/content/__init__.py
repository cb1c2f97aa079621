"""Reading the product's data (phase models, questions, partnership files) and rendering templates."""
