"""WeCom (企业微信) app messages for Lifeline: the `wecom_notify` connector (entry point -> `.plugin`)."""
