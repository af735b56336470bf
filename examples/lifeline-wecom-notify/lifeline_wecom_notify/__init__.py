"""WeCom (企业微信) app messages for Lifeline: the `wecom` connector (entry point -> `lifeline_wecom_notify.plugin`)."""
