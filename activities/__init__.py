"""Thin I/O: read settings, call one Azure API through the client factories, return plain JSON data."""
