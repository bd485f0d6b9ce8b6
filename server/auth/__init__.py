"""Authentication: passwords, tokens and the signed-in principal."""
