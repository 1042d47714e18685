"""Wire surfaces: each turns its protocol into canonical types and renders ArbiterError its way."""
