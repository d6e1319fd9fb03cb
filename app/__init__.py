"""AlarmBridge: the appliance (engine, event log, io process, web UI, CLI)."""

__version__ = "0.1.0.dev0"
