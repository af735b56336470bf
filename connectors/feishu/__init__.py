"""Feishu (Lark) connector: Open Platform client, event callback crypto and the vendor emulator."""
