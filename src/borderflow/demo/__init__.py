"""The live demo: simulated actors driving the platform's API."""
