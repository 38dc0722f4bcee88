"""`vinculo` verbs, one module each (see vinculo.cli)."""
