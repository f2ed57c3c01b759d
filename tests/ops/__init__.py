"""Operations: alerts, metrics, retention, export, scale-out."""
