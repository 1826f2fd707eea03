"""Eventyard: an event bus server that speaks the Amazon EventBridge API."""

__version__ = "0.1.0"
