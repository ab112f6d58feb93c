"""The ground floor: the one settings object and the limits; imports no other room."""

from config.settings import Settings, config_file_path, get_settings, reset_settings

__all__ = ["Settings", "config_file_path", "get_settings", "reset_settings"]
