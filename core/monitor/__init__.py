"""Real-time price monitoring: the rules over the accepted price-point stream."""

from core.monitor.config import MonitorConfig
from core.monitor.monitor import Monitor

__all__ = ["Monitor", "MonitorConfig"]
