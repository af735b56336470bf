"""WeCom (企业微信) and the WeChat Official Account (微信公众号): staff and candidate channels."""
