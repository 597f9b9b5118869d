"""Django management commands of temporalflow."""
