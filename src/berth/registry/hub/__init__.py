"""The hub features beside the distribution API: descriptions and READMEs, stars, pull counts."""
