"""DingTalk connector: emulator and callback crypto (the plugin module comes later)."""
