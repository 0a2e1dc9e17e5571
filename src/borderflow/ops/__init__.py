"""Operations: health, readiness, Prometheus metrics and request logging."""
