"""System checks for temporalflow's configuration (ids ``temporalflow.E0xx`` / ``W0xx``)."""
