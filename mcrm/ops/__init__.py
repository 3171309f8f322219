"""Operations: metrics, health and readiness, and the logs' format and privacy filter."""
