"""PlatformIO integration: `extra_script.py` (library.json's build.extraScript) and its helpers in `plugin.py`."""
