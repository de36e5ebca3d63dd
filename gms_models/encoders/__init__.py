"""Student and teacher image encoders, one module per family; importing registers them."""
