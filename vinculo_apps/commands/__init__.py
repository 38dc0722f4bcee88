"""`vinculo` verbs, one module each (see vinculo_apps.cli)."""
