"""DingTalk connector plugin (`plugin`), its vendor emulator (`emulator`) and callback crypto (`crypto`)."""
