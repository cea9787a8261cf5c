"""Track inputs: JSON lines and SBS-1 (BaseStation, port 30003) text, as API report rows."""
